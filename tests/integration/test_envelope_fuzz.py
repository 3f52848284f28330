"""Fuzz a real service process on a real nats-server with malformed envelopes (issue 10): every
input gets exactly one reply envelope, nothing changes, and the service is alive at the end."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from runtime.client import Client
from runtime.transport.base import Msg
from tests.integration.conftest import Spawn, wait_ready

SID = "fz"
ENDPOINTS = ["cmd", "activate", "deactivate", "set_state", "set_rungraph", "status"]
BAD: dict[str, list[Any]] = {
    "call": [0, False, None, {}, [], "", 1.5, "x" * 500],
    "timeoutMs": [True, False, 0, -1, 1.5, 3000.0, "3000", [], {}, 10**20],
    "args": [[], "x", 1, True, None, 2.5],
    "meta": [[], 1, "m", {"actor": 5}, {"actor": "a" * 1000}, {"traceId": []}],
    "reqId": [5, True, [], {}, "r" * 1000],
    "bogus": [1, None, {}],
}
RAW = [b"\xff", b"[", b'{"call":', b"[" * 1000 + b"]" * 1000, b'{"a":' * 5000,
       b'{"call": "activate", "timeoutMs": 1e400}', b'{"call": "activate", "args": {"v": NaN}}',
       b'{"call": "deactivate", "timeoutMs": 1e400}', b"null", b"3", b'"deactivate"',
       b'{"call": "set_state", "args": {"n": ' + b"9" * 5000 + b"}}"]


def inputs(rng: random.Random, n: int) -> list[tuple[str, bytes, str | None]]:
    """(endpoint, bytes, the reqId a reply must echo) — each input malformed in one field."""
    out: list[tuple[str, bytes, str | None]] = [
        (endpoint, raw, None) for raw in RAW for endpoint in ("cmd", "activate")]
    while len(out) < n:
        endpoint = rng.choice(ENDPOINTS)
        req_id = f"f{len(out)}"
        call = endpoint if endpoint != "cmd" else rng.choice(["activate", "deactivate"])
        env: dict[str, Any] = {"reqId": req_id, "call": call, "args": {}, "timeoutMs": 2000}
        field = rng.choice(sorted(BAD))
        env[field] = rng.choice(BAD[field])
        if field == "call" and endpoint == "cmd" and env["call"] == "":
            env["call"] = 7
        if field == "call" and endpoint != "cmd" and isinstance(env["call"], str):
            env["call"] = endpoint + "_not"
        # an unknown field makes a micro endpoint's payload bare args: no reqId to echo
        echo = None if field == "reqId" or (field == "bogus" and endpoint != "cmd") else req_id
        out.append((endpoint, json.dumps(env).encode(), echo))
    return out[:n]


async def test_malformed_envelopes_get_one_reply_each_and_change_nothing(
        client: Client, nats_url: str, spawn: Spawn) -> None:
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    before = (await client.call(SID, "status", timeout=5.0)).result
    transport = client.transport
    base = transport.new_inbox()
    replies: dict[int, list[dict[str, Any]]] = {}
    arrived = asyncio.Event()

    async def on_reply(msg: Msg) -> None:
        replies.setdefault(int(msg.subject.rsplit(".", 1)[1]), []).append(json.loads(msg.data))
        arrived.set()

    sub = await transport.subscribe(f"{base}.*", on_reply)
    await transport.flush()
    cases = inputs(random.Random(10), 300)
    for i, (endpoint, data, _) in enumerate(cases):
        arrived.clear()
        await transport.publish(f"svc.{SID}.{endpoint}", data, reply=f"{base}.{i}")
        async with asyncio.timeout(5):
            while i not in replies:
                await arrived.wait()
                arrived.clear()
    await asyncio.sleep(0.5)  # room for a second reply, were one sent
    await sub.unsubscribe()

    for i, (endpoint, data, echo) in enumerate(cases):
        got = replies.get(i, [])
        assert len(got) == 1, f"{len(got)} replies to {data[:80]!r} on {endpoint}"
        reply = got[0]
        assert set(reply) == {"reqId", "ok", "result", "error"}
        assert reply["ok"] is False, f"{data[:120]!r} on {endpoint} was accepted"
        assert reply["error"]["code"] == "INVALID_ARGS", reply
        assert reply["reqId"] == echo, (data[:120], reply)
    after = (await client.call(SID, "status", timeout=5.0)).result
    assert (after["active"], after["revision"], after["graphId"]) == (
        before["active"], before["revision"], before["graphId"])
