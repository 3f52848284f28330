"""RSS of a loaded 1000-node graph over the interpreter's baseline, in a fresh subprocess.

The child (``python -m benchmarks.rss --child --nodes N``) imports everything, loads the node
registry and builds the raw graph document (the input, as if just decoded from the wire), then
takes the baseline RSS; it loads the graph in a ``Simulation`` and takes RSS again (after a
``gc.collect()``), then once more after one exec pass. A 10-node child gives the fixed cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import figure, progress

NODES = 1000
SMALL = 10
TIMEOUT_S = 60
MB = 1024 * 1024

FIGURES = {
    "rss_1000_nodes_mb": ("MB", 20, 29, "lower"),
}


def _child(nodes: int) -> dict[str, Any]:
    import asyncio
    import gc

    import psutil

    from benchmarks.common import SERVICE_ID, bench_registry, sized_graph
    from runtime.service.sim import Simulation

    proc = psutil.Process()
    registry = bench_registry()
    raw = sized_graph(nodes)

    async def main() -> dict[str, Any]:
        gc.collect()
        base = proc.memory_info().rss
        sim = Simulation(registry)
        await sim.load(raw)
        gc.collect()
        loaded = proc.memory_info().rss
        await sim.step(1)
        gc.collect()
        stepped = proc.memory_info().rss
        host = sim.hosts[SERVICE_ID]
        return {
            "nodes": len(host.bus.nodes) - 1,
            "kv_keys": len(host.bus.kv.entries),
            "errors": len(sim.errors()),
            "baseline_rss_mb": base / MB,
            "loaded_mb": (loaded - base) / MB,
            "after_one_pass_mb": (stepped - base) / MB,
        }

    return asyncio.run(main())


def _spawn(nodes: int) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.rss", "--child", "--nodes", str(nodes)],
        cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"rss child ({nodes} nodes) exited {out.returncode}: "
                           f"{out.stderr.strip()[-800:]}")
    return json.loads(out.stdout)


def run() -> dict[str, dict[str, Any]]:
    progress(f"rss: {NODES}-node and {SMALL}-node graphs in fresh subprocesses")
    big = _spawn(NODES)
    small = _spawn(SMALL)
    ok = big["nodes"] == NODES and small["nodes"] == SMALL and not big["errors"]
    per_node_kb = (big["loaded_mb"] - small["loaded_mb"]) * 1024 / (NODES - SMALL)
    return {
        "rss_1000_nodes_mb": figure(
            FIGURES, "rss_1000_nodes_mb", big["loaded_mb"],
            baseline_rss_mb=round(big["baseline_rss_mb"], 2),
            after_one_pass_mb=round(big["after_one_pass_mb"], 3),
            fixed_cost_10_nodes_mb=round(small["loaded_mb"], 3),
            per_node_kb=round(per_node_kb, 2),
            sanity={"ok": ok, "nodes": big["nodes"], "kv_keys": big["kv_keys"],
                    "node_errors": big["errors"]},
        ),
    }


if __name__ == "__main__":
    if "--child" in sys.argv:
        n = int(sys.argv[sys.argv.index("--nodes") + 1]) if "--nodes" in sys.argv else NODES
        print(json.dumps(_child(n)))
    else:
        print(json.dumps(run(), indent=2))
