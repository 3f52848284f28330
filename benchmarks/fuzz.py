"""Fuzz figures (issue 10): how many fuzzed envelopes per second one service process answers on a
real nats-server, whether every answer is a valid reply envelope, and how much the process grows.

One service process (``python -m runtime.service.main``, as ``rungraph serve`` starts it) runs a
small graph of typed nodes. A pre-generated, seeded list of envelopes (malformed JSON, wrong field
types, unknown calls and args, deep nesting and large strings within the limits, valid
``status``/``get_state`` calls, ``set_state`` with bad values) is sent with ``IN_FLIGHT``
requests outstanding, each with its own reply subject. Nothing in the list may change the
rungraph, the active flag or any state: the run checks that afterwards. The process's RSS
(``/proc/PID/status``) is read after ``WARMUP`` envelopes and again after ``MEASURED`` more;
throughput is timed over the measured ones.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import nats

from benchmarks.common import figure as _figure
from benchmarks.common import progress
from runtime.client import Client, launch_service, wait_answering
from runtime.nats_server import NatsServer
from runtime.protocol.envelope import MAX_DEPTH, CommandReply

FIGURES = {
    "fuzz_envelopes_per_s": ("envelopes/s", 1000, 0, "higher"),
    "fuzz_rss_growth_mb": ("MB", 5, 0, "lower"),
    "fuzz_invalid_replies": ("replies", 0, 0, "lower"),
}
SEED = 10
WARMUP = 1_000
MEASURED = 10_000
IN_FLIGHT = 64
REPLY_TIMEOUT_S = 10.0
SID = "fuzz"
REPLY_KEYS = frozenset({"reqId", "ok", "result", "error"})
MB = 1024 * 1024

NODES: dict[str, str] = {
    "seq": "core.sequence", "delay": "core.delay", "binop": "math.binary",
    "expr": "math.expression", "const": "core.constant", "counter": "core.counter",
    "walk": "sensor.random_walk", "print": "core.print",
}
READABLE = [("seq", "count"), ("delay", "delayMs"), ("binop", "op"), ("expr", "expr"),
            ("const", "value"), ("counter", "count"), ("walk", "current"), ("print", "prefix")]
BAD_VALUES: dict[tuple[str, str], list[Any]] = {
    ("seq", "count"): [0, 33, -1, "two", [], {}, 2.5, None],
    ("delay", "delayMs"): [-1, 600_001, "soon", [1], {"ms": 1}, None],
    ("binop", "op"): ["nope", 3, [], {}, None],
    ("expr", "expr"): ["a +", "(((", "def f(): pass", 7, [], None],
    ("const", "value"): ["abc", "", [], {}, None],
    ("counter", "count"): [1, 5],  # read-only: FORBIDDEN whatever the value
    ("counter", "step"): [2_000_000, -2_000_000, "s", []],
    ("walk", "step"): [-1.0, -0.5, "fast", []],
    ("walk", "current"): [3.0],  # read-only
    ("ghost", "value"): [1],  # no such node
    ("const", "nope"): [1],  # no such field
}
BAD_FIELDS: dict[str, list[Any]] = {
    "call": [0, False, None, {}, [], "", 1.5],
    "timeoutMs": [True, 0, -1, 1.5, "3000", [], {}, 10**20],
    "args": [[], "x", 1, True, None, 2.5],
    "meta": [[], 1, "m", {"actor": 5}, {"actor": "a" * 1000}, {"traceId": []}],
    "reqId": [5, True, [], {}, "r" * 1000],
    "bogus": [1, None, {}],
}
RAW = [b"\xff\xfe", b"[", b"null", b"3", b'"status"', b"[]", b"{}{}",
       b'{"call": "status", "timeoutMs": 1e400}', b'{"call": "status", "args": {"v": NaN}}',
       b"[" * 500 + b"]" * 500, b'{"a":' * 300]
"""Bytes no endpoint may take. Not among them: an empty payload or ``{}``, which a built-in
endpoint takes as empty args (on ``deactivate``, a valid call that changes the flag)."""


@dataclass(frozen=True, slots=True)
class Case:
    """One request: where it goes, its bytes, the reqId a reply may echo (None: the request
    carries none a service could read), and whether a service must refuse it."""

    endpoint: str
    data: bytes
    req_id: str | None
    refused: bool = True


def _env(req_id: Any, call: Any, args: Any, over: dict[str, Any] | None = None) -> bytes:
    env = {"reqId": req_id, "call": call, "args": args, "timeoutMs": 5000,
           "meta": {"actor": "fuzz"}}
    env.update(over or {})
    return json.dumps(env).encode()


def _nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"n": value}
    return value


def _case(rng: random.Random, rid: str) -> Case:
    """One fuzzed request of a kind drawn by weight."""
    kind = rng.choices(range(11), weights=[14, 14, 5, 10, 20, 14, 8, 5, 1, 5, 4])[0]
    endpoint = rng.choice(["cmd", "cmd", "status", "get_state", "set_state"])
    if kind == 0:  # valid status
        ep = rng.choice(["cmd", "status"])
        return Case(ep, _env(rid, "status", {}), rid, refused=False)
    if kind == 1:  # valid get_state: everything, one node, one field
        ep = rng.choice(["cmd", "get_state"])
        nid, fld = rng.choice(READABLE)
        args = rng.choice([{}, {"nodeId": nid}, {"nodeId": nid, "field": fld}])
        return Case(ep, _env(rid, "get_state", args), rid, refused=False)
    if kind == 2:  # get_state of what does not exist
        ep = rng.choice(["cmd", "get_state"])
        args = rng.choice([{"nodeId": "ghost"}, {"nodeId": "seq", "field": "nope"},
                           {"nodeId": 5}, {"field": ["x"]}])
        return Case(ep, _env(rid, "get_state", args), rid)
    if kind == 3:  # unknown call, or a built-in with args it does not take
        if rng.random() < 0.5:
            call = rng.choice(["reload", "shutdown", "exec", "get_secrets", "status2"])
            return Case("cmd", _env(rid, f"{call}_{rng.randrange(100)}", {"x": 1}), rid)
        ep = rng.choice(["cmd", "status"])
        return Case(ep, _env(rid, "status", {"verbose": True}), rid)
    if kind == 4:  # set_state with a bad value, a read-only field, a missing node or field
        ep = rng.choice(["cmd", "set_state"])
        (nid, fld), values = rng.choice(list(BAD_VALUES.items()))
        args = {"nodeId": nid, "field": fld, "value": rng.choice(values)}
        return Case(ep, _env(rid, "set_state", args), rid)
    if kind == 5:  # one envelope field of the wrong type or unknown
        name, values = rng.choice(list(BAD_FIELDS.items()))
        call = "status" if endpoint in ("cmd", "status") else endpoint
        env = json.loads(_env(rid, call, {}))
        env[name] = rng.choice(values)
        if name == "call" and env["call"] == "" and endpoint != "cmd":
            env["call"] = 0  # an empty call on a built-in endpoint names that endpoint's call
        echo = env["reqId"] if isinstance(env.get("reqId"), str) else None
        return Case(endpoint, json.dumps(env).encode(), echo)
    if kind == 6:  # malformed bytes, also to the endpoints that change things
        ep = rng.choice([endpoint, "activate", "deactivate", "set_rungraph"])
        if rng.random() < 0.5:
            return Case(ep, rng.choice(RAW), None)
        full = _env(rid, "status", {"n": 1})
        return Case(ep, full[:rng.randrange(1, len(full) - 1)], rid)
    if kind == 7:  # deep nesting: mostly within MAX_DEPTH, some past it
        depth = rng.choice([rng.randrange(10, MAX_DEPTH - 4), rng.randrange(MAX_DEPTH, 200)])
        if rng.random() < 0.5:
            return Case("cmd", _env(rid, "nested_call", {"v": _nested(depth)}), rid)
        args = {"nodeId": "const", "field": "value", "value": _nested(depth)}
        return Case(rng.choice(["cmd", "set_state"]), _env(rid, "set_state", args), rid)
    if kind == 8:  # a large string, well within max_payload
        text = rng.choice("xyz") * rng.randrange(16 * 1024, 128 * 1024)
        if rng.random() < 0.5:
            return Case("cmd", _env(rid, "big_call", {"blob": text}), rid)
        return Case("set_state", _env(rid, "set_state",
                                      {"nodeId": "seq", "field": "count", "value": text}), rid)
    if kind == 9:  # set_rungraph whose rungraph has the wrong shape
        bad = rng.choice([5, "graph", [], {"nodes": 5}, {"graphId": 3}, None])
        return Case(rng.choice(["cmd", "set_rungraph"]),
                    _env(rid, "set_rungraph", {"rungraph": bad}), rid)
    # activate/deactivate whose envelope is invalid: refused, the flag untouched
    call = rng.choice(["activate", "deactivate"])
    over = rng.choice([{"timeoutMs": True}, {"args": []}, {"args": {"force": 1}},
                       {"meta": 3}, {"call": 0}])
    return Case(rng.choice(["cmd", call]), _env(rid, call, {}, over), rid)


def generate(seed: int, n: int) -> list[Case]:
    """``n`` fuzzed requests, the same for the same seed; reqIds are unique (``z{i}``)."""
    rng = random.Random(seed)
    return [_case(rng, f"z{i}") for i in range(n)]


@dataclass
class Tally:
    """What came back: reply codes, and every reply that breaks the contract."""

    codes: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    missing: int = 0
    extra: int = 0
    accepted_bad: int = 0
    samples: deque[str] = field(default_factory=lambda: deque(maxlen=5))

    def check(self, case: Case, data: bytes) -> None:
        try:
            body = json.loads(data)
            reply = CommandReply.model_validate(body)
            well_formed = (REPLY_KEYS <= set(body) <= REPLY_KEYS | {"stream"}
                           and reply.ok == (reply.error is None)
                           and reply.reqId in (None, case.req_id))
        except (ValueError, RecursionError):  # pydantic's ValidationError is a ValueError
            well_formed = False
        if not well_formed:
            self.invalid += 1
            self.samples.append(f"{case.endpoint} {case.data[:80]!r} -> {data[:200]!r}")
            return
        self.codes[reply.error.code if reply.error else "ok"] += 1
        if reply.ok and case.refused:
            self.accepted_bad += 1
            self.samples.append(f"accepted: {case.endpoint} {case.data[:120]!r}")


async def _send(nc: Any, inbox: str, pending: dict[int, asyncio.Future[bytes]],
                cases: list[tuple[int, Case]], tally: Tally) -> float:
    """Send ``cases`` with at most IN_FLIGHT outstanding; seconds until the last reply."""
    loop = asyncio.get_running_loop()
    window = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int, case: Case) -> None:
        try:
            data = await asyncio.wait_for(pending[i], REPLY_TIMEOUT_S)
        except TimeoutError:
            tally.missing += 1
            tally.samples.append(f"no reply: {case.endpoint} {case.data[:80]!r}")
        else:
            tally.check(case, data)
        finally:
            window.release()

    tasks = []
    t0 = time.perf_counter()
    for i, case in cases:
        await window.acquire()
        pending[i] = loop.create_future()
        await nc.publish(f"svc.{SID}.{case.endpoint}", case.data, reply=f"{inbox}.{i}")
        tasks.append(asyncio.create_task(one(i, case)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _graph() -> dict[str, Any]:
    return {"graphId": "fuzz", "revision": 1,
            "services": [{"serviceId": SID, "serviceClass": "rungraph.service"}],
            "nodes": [{"nodeId": nid, "serviceId": SID, "class": cls}
                      for nid, cls in NODES.items()],
            "edges": []}


async def _snapshot(client: Client) -> dict[str, Any]:
    status = (await client.call(SID, "status", timeout=10)).result
    state = (await client.call(SID, "get_state", timeout=10)).result
    return {"active": status["active"], "graphId": status["graphId"],
            "revision": status["revision"], "state": state}


async def _fuzz(url: str) -> dict[str, Any]:
    cases = generate(SEED, WARMUP + MEASURED)
    proc = await launch_service(url, SID, "rungraph.service")
    tail: deque[bytes] = deque(maxlen=4)

    async def drain() -> None:  # in chunks: one log line may be longer than a readline takes
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(64 * 1024):
            tail.append(chunk)

    drainer = asyncio.create_task(drain())
    client = await Client.connect(url, actor="bench")
    nc = await nats.connect(url, name="fuzz-bench")
    try:
        await wait_answering(client, SID, 30.0, proc)
        applied = await client.call(SID, "set_rungraph", {"rungraph": _graph()}, timeout=30)
        assert applied.ok, applied
        before = await _snapshot(client)
        tally = Tally()
        pending: dict[int, asyncio.Future[bytes]] = {}
        inbox = nc.new_inbox()

        async def on_reply(msg: Any) -> None:
            fut = pending.get(int(msg.subject.rsplit(".", 1)[1]))
            if fut is None or fut.done():
                tally.extra += 1  # a second reply to one request (or one to none)
            else:
                fut.set_result(msg.data)

        await nc.subscribe(f"{inbox}.*", cb=on_reply)
        await nc.flush()
        indexed = list(enumerate(cases))
        progress(f"fuzz: {WARMUP} warm-up envelopes")
        await _send(nc, inbox, pending, indexed[:WARMUP], tally)
        await asyncio.sleep(0.2)
        rss_warm = _rss_mb(proc.pid)
        progress(f"fuzz: {MEASURED} envelopes, {IN_FLIGHT} in flight")
        elapsed = await _send(nc, inbox, pending, indexed[WARMUP:], tally)
        await asyncio.sleep(0.5)  # room for a second reply, were one sent
        rss_after = _rss_mb(proc.pid)
        after = await _snapshot(client)
        alive = proc.returncode is None
    finally:
        await nc.close()
        await client.close()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await drainer
    return {"tally": tally, "elapsed": elapsed, "rss_warm": rss_warm, "rss_after": rss_after,
            "unchanged": before == after, "alive": alive, "cases": cases,
            "log_tail": b"".join(tail)[-1500:].decode(errors="replace")}


def figure(name: str, value: float, **extra: Any) -> dict[str, Any]:
    rec = _figure(FIGURES, name, value, **extra)
    rec.pop("reference")  # no reference implementation figure
    return rec


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        got = await _fuzz(server.url)
    tally: Tally = got["tally"]
    broken = tally.invalid + tally.missing + tally.extra
    sanity = {"ok": broken == 0 and tally.accepted_bad == 0 and got["unchanged"]
              and got["alive"],
              "invalid": tally.invalid, "no_reply": tally.missing,
              "extra_replies": tally.extra, "accepted_bad": tally.accepted_bad,
              "state_unchanged": got["unchanged"], "service_alive": got["alive"]}
    if not sanity["ok"]:
        sanity["samples"] = list(tally.samples)
        sanity["service_log_tail"] = got["log_tail"]
    kinds = Counter("valid" if not c.refused else "refusable" for c in got["cases"])
    sent_mb = sum(len(c.data) for c in got["cases"][WARMUP:]) / MB
    return {
        "fuzz_envelopes_per_s": figure(
            "fuzz_envelopes_per_s", MEASURED / got["elapsed"], sanity=sanity,
            envelopes=MEASURED, in_flight=IN_FLIGHT, seed=SEED, sent_mb=round(sent_mb, 1),
            replies_by_code=dict(sorted(tally.codes.items())), mix=dict(kinds),
            what="one service process on a real nats-server; every reply checked "
                 "(replies_by_code and mix count the warm-up too)"),
        "fuzz_rss_growth_mb": figure(
            "fuzz_rss_growth_mb", got["rss_after"] - got["rss_warm"],
            rss_after_warmup_mb=round(got["rss_warm"], 1),
            rss_after_mb=round(got["rss_after"], 1), warmup=WARMUP, envelopes=MEASURED),
        "fuzz_invalid_replies": figure(
            "fuzz_invalid_replies", broken, not_envelope=tally.invalid,
            no_reply=tally.missing, extra_replies=tally.extra,
            what="replies that are no valid envelope, requests with no reply, second replies"),
    }


def run() -> dict[str, dict[str, Any]]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
