"""Command round trips the way a user meets them: every party in its own process.

A real nats-server (open), the service as its own process (``EchoService`` below, started with
``python -m benchmarks.rtt_bench serve``, which is ``Service.run``), and a raw nats-py echo
responder as its own process (``python -m benchmarks.rtt_bench echo URL SUBJECT``: plain
``asyncio.run``, a subscription callback that responds with the request's bytes, as nats-py's
own examples do). One client process (this one) times, in interleaved blocks of ``BLOCK``:

- ``raw``: ``nc.request`` to the echo responder, with the bytes of a status request envelope;
- ``status``: ``Client.call(sid, "status")``;
- ``typed``: the service's trivial user command ``echo``, through the typed client
  (``EchoService.client(sid, via=...)``) where ``runtime.Service`` has one, else through
  ``Client.call`` (the envelope and reply parsing a typed client adds on top of it).

Figures: the p50 of ``status`` and of ``typed`` as a multiple of the raw echo's p50 (the
client's own overhead included: it is part of what a user waits for).

``--profile DIR`` runs the service and the echo responder under cProfile (``DIR/service.prof``,
``DIR/echo.prof``) for finding where the time goes; the figures are then not comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from benchmarks.common import figure as _figure
from benchmarks.common import progress, stop_processes
from runtime import Service, command
from runtime.client import Client
from runtime.nats_server import NatsServer

FIGURES = {
    "status_rtt_p50_ratio_to_raw_echo": ("x raw nats-py echo p50", 0.8, 0, "lower"),
    "typed_call_p50_ratio_to_raw_echo": ("x raw nats-py echo p50", 0.9, 0, "lower"),
}
SERVICE_ID = "rtt"
RAW_SUBJECT = "bench.raw_echo"
BLOCK = 50
"""Requests of one kind timed back to back before the next kind's block."""
ROUNDS = 40
"""Blocks of each kind (each round runs one block of every kind, in a rotating order)."""
WARMUP = 300
"""Untimed requests of each kind first (imports, caches, the first reply inbox)."""
ROOT = Path(__file__).resolve().parents[1]


class EchoArgs(BaseModel):
    text: str = ""


class EchoResult(BaseModel):
    text: str


class EchoService(Service):
    """A service with one trivial user command."""

    class_name = "bench.echo"
    label = "Echo"

    @command
    async def echo(self, args: EchoArgs) -> EchoResult:
        """Return the text given."""
        return EchoResult(text=args.text)

    @command
    async def event_loop(self) -> str:
        """The module of the event loop this process runs on (``uvloop`` or ``asyncio``)."""
        return type(asyncio.get_running_loop()).__module__.split(".")[0]


def figure(name: str, value: float, **extra: Any) -> dict[str, Any]:
    rec = _figure(FIGURES, name, value, **extra)
    rec.pop("reference")  # no reference implementation: the raw echo is the baseline
    return rec


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))]


# -- the processes -------------------------------------------------------------------------------
async def _raw_echo(url: str, subject: str) -> None:
    """The raw responder: nats-py's request/reply example, nothing more."""
    import nats

    nc = await nats.connect(url)

    async def cb(msg: Any) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(subject, cb=cb)
    await nc.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await nc.drain()


def _python(profile: Path | None, name: str) -> list[str]:
    if profile is None:
        return [sys.executable]
    return [sys.executable, "-m", "cProfile", "-o", str(profile / f"{name}.prof")]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)




async def _until_answers(what: str, ask: Any, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await ask()
            return
        except Exception as exc:  # noqa: BLE001 - not up yet (NoService, a timeout)
            if loop.time() > deadline:
                raise RuntimeError(f"{what} did not answer within {timeout:g}s: {exc!r}") from None
            await asyncio.sleep(0.1)


# -- the client ----------------------------------------------------------------------------------
def _typed_call(client: Client) -> tuple[Any, str]:
    """The ``echo`` call as a user makes it: the typed client where there is one."""
    make = getattr(Service, "client", None)
    if make is not None:
        typed = EchoService.client(SERVICE_ID, via=client.transport)  # type: ignore[attr-defined]

        async def call_typed() -> Any:
            return await typed.echo(EchoArgs(text="hi"))

        return call_typed, "typed client"

    async def call_plain() -> Any:
        reply = await client.call(SERVICE_ID, "echo", {"text": "hi"})
        if not reply.ok:
            raise RuntimeError(f"echo failed: {reply.error}")
        return reply.result

    return call_plain, "Client.call"


async def _time(url: str) -> dict[str, Any]:
    import nats

    nc = await nats.connect(url)
    client = await Client.connect(url, actor="bench")
    try:
        raw_payload = client.encode_request(SERVICE_ID, "status")

        async def raw() -> Any:
            return await nc.request(RAW_SUBJECT, raw_payload, timeout=2)

        async def status() -> Any:
            reply = await client.call(SERVICE_ID, "status")
            if not reply.ok:
                raise RuntimeError(f"status failed: {reply.error}")
            return reply

        typed, typed_via = _typed_call(client)
        await _until_answers("the raw echo responder", raw)
        await _until_answers(f"service {SERVICE_ID}", status)
        loop_reply = await client.call(SERVICE_ID, "event_loop")
        kinds = {"raw": raw, "status": status, "typed": typed}
        for _ in range(WARMUP):
            for ask in kinds.values():
                await ask()
        samples: dict[str, list[float]] = {k: [] for k in kinds}
        order = list(kinds)
        clock = time.perf_counter
        for r in range(ROUNDS):
            for name in order[r % 3:] + order[:r % 3]:  # rotate: no kind is always first
                ask, out = kinds[name], samples[name]
                for _ in range(BLOCK):
                    t0 = clock()
                    await ask()
                    out.append((clock() - t0) * 1000)
        return {"samples": samples, "typed_via": typed_via,
                "service_loop": loop_reply.result if loop_reply.ok else None}
    finally:
        await client.close()
        await nc.close()


async def _measure(profile: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        logs = Path(store)
        procs = [
            _start([*_python(profile, "service"), "-m", "benchmarks.rtt_bench", "serve",
                    "--nats", server.url, "--service-id", SERVICE_ID, "--log-level", "WARNING"],
                   logs / "service.log"),
            _start([*_python(profile, "echo"), "-m", "benchmarks.rtt_bench", "echo", server.url,
                    RAW_SUBJECT], logs / "echo.log"),
        ]
        try:
            return await _time(server.url)
        finally:
            stop_processes(procs)
            for proc, name in zip(procs, ("service", "echo"), strict=True):
                if proc.returncode not in (0, -signal.SIGTERM):
                    progress(f"rtt: the {name} process exited {proc.returncode}: "
                             f"{(logs / f'{name}.log').read_text()[-2000:]}")


def run(profile: Path | None = None) -> dict[str, dict[str, Any]]:
    progress(f"rtt: service and raw echo in their own processes, {ROUNDS} interleaved blocks "
             f"of {BLOCK} of each kind")
    r = asyncio.run(_measure(profile))
    s = r["samples"]
    p50 = {k: statistics.median(v) for k, v in s.items()}
    p90 = {k: pct(v, 0.9) for k, v in s.items()}
    spread = {f"{k}_{q}_ms": round(d[k], 4) for k in s for q, d in (("p50", p50), ("p90", p90))}
    common = {**spread, "round_trips_each": len(s["raw"]), "service_loop": r["service_loop"],
              "client_loop": "asyncio"}
    return {
        "status_rtt_p50_ratio_to_raw_echo": figure(
            "status_rtt_p50_ratio_to_raw_echo", p50["status"] / p50["raw"], **common,
            what="Client.call status to a service process, beside nc.request to a raw nats-py "
                 "echo process (same request bytes), interleaved blocks"),
        "typed_call_p50_ratio_to_raw_echo": figure(
            "typed_call_p50_ratio_to_raw_echo", p50["typed"] / p50["raw"],
            typed_p50_ms=round(p50["typed"], 4), raw_p50_ms=round(p50["raw"], 4),
            via=r["typed_via"],
            what="the service's trivial user command echo, beside the raw echo"),
    }


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        EchoService.run(argv[1:])
        return
    if argv[:1] == ["echo"]:
        asyncio.run(_raw_echo(argv[1], argv[2]))
        return
    ap = argparse.ArgumentParser(prog="python -m benchmarks.rtt_bench")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="run the service and the echo under cProfile, writing DIR/*.prof")
    args = ap.parse_args(argv)
    if args.profile is not None:
        os.makedirs(args.profile, exist_ok=True)
    print(json.dumps(run(args.profile), indent=2))


if __name__ == "__main__":
    main()
