"""Commands that need no server: sim, validate, describe, schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from runtime.protocol.envelope import MAX_DEPTH, CommandReply, CommandRequest, json_depth
from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_file import GraphFileError, read_graph_file
from runtime.protocol.problems import GraphError, Problem
from runtime.registry import default_registry
from runtime.service.sim import Simulation
from runtime.validate import validate_graph

EXIT_INVALID = 2


def add_commands(sub: Any) -> None:
    p = sub.add_parser("sim", help="simulate a graph in this process (memory transport, mocks)")
    p.add_argument("graph", type=Path)
    p.add_argument("--ticks", type=int, default=10, help="passes per exec source (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--trace", action="store_true", help="one JSON line per exec event")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("validate", help="check a graph; exit 2 naming every fault")
    p.add_argument("graph", type=Path)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("describe", help="specs of node classes as JSON")
    p.add_argument("cls", nargs="?", help="one class name (default: all)")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("schema", help="JSON Schema of the protocol models")
    p.set_defaults(func=cmd_schema)


def load_graph_file(path: Path) -> RunGraph:
    """The rungraph of a graph file (plain or a Studio document); raises GraphError naming the
    file's problem (``runtime.protocol.graph_file.read_graph_file``); a file nested deeper than
    a request may carry (``MAX_DEPTH``) is refused before it is parsed."""
    try:
        data = path.read_bytes() if path.is_file() else None
    except OSError:
        data = None  # read_graph_file names the problem
    if data is not None and json_depth(data) > MAX_DEPTH:
        raise GraphFileError(path, f"JSON nests deeper than {MAX_DEPTH} levels, the most a "
                                   "request may carry")
    try:
        return read_graph_file(path).graph
    except RecursionError:
        raise GraphFileError(path, f"JSON nests deeper than {MAX_DEPTH} levels, the most a "
                                   "request may carry") from None


def report(exc: GraphError) -> int:
    for problem in exc.problems or [Problem(str(exc.__cause__ or exc))]:
        print(f"error: {problem.message}", file=sys.stderr)
    return EXIT_INVALID


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        graph = load_graph_file(args.graph)
        problems = validate_graph(graph, default_registry(), simulate=True)
        if problems:
            raise GraphError(problems)
    except GraphError as exc:
        return report(exc)
    print(f"ok: {args.graph}: {len(graph.services)} services, {len(graph.nodes)} nodes, "
          f"{len(graph.edges)} edges")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    if args.ticks < 0:
        print("error: --ticks must be >= 0", file=sys.stderr)
        return EXIT_INVALID
    try:
        graph = load_graph_file(args.graph)
    except GraphError as exc:
        return report(exc)
    return asyncio.run(_sim(graph, args))


async def _sim(graph: RunGraph, args: argparse.Namespace) -> int:
    sim = Simulation()
    if args.trace:
        def trace(ev: dict[str, Any]) -> None:
            try:
                print(json.dumps(ev, separators=(", ", ": ")), flush=True)
            except BrokenPipeError:  # `| head` has read enough: stop quietly
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise

        sim.set_tracer(trace)
    try:
        await sim.load(graph)
    except GraphError as exc:
        return report(exc)
    try:
        await sim.step(args.ticks)
        state = sim.state()
        errors = sim.errors()
    finally:
        await sim.stop()
    if args.json:
        print(json.dumps({"ticks": args.ticks, "state": state, "errors": errors}, default=str))
    elif not args.trace:
        print(f"simulated {args.ticks} ticks")
        for nid, values in state.items():
            shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if k != "_error")
            print(f"  {nid:<16} {shown}")
        for err in errors[-10:]:
            print(f"  error on {err['node']} ({err['where']}): {err['message']}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    registry = default_registry()
    if args.cls:
        spec = registry.spec(args.cls)
        if spec is None:
            print(f"error: unknown class {args.cls!r}", file=sys.stderr)
            return EXIT_INVALID
        print(spec.model_dump_json(indent=2))
        return 0
    print(json.dumps([s.model_dump(mode="json") for s in registry.specs()], indent=2))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from runtime.protocol.spec import NodeSpec

    schemas = {
        "RunGraph": RunGraph.model_json_schema(by_alias=True),
        "CommandRequest": CommandRequest.model_json_schema(),
        "CommandReply": CommandReply.model_json_schema(),
        "NodeSpec": NodeSpec.model_json_schema(by_alias=True),
    }
    print(json.dumps(schemas, indent=2))
    return 0
