"""The debugging calls on a service with two instances (two processes, one service id) over a
real nats-server: whichever instance the queue group gives ``break``, ``unbreak``, ``step``,
``continue``, ``probe`` and ``stats`` to, the leader (which alone runs passes) answers them;
``status`` asked of either instance shows the leader's pause and breakpoints; a leader killed
while paused is replaced by one that runs, and the shared pause (KV ``debug``) is cleared.

Each call is sent on its own endpoint (``svc.{sid}.{call}``) until micro's own counts
(``$SRV.STATS``) show that the follower received it at least once, so the forwarding path is
known to have run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from typing import Any

import pytest

from runtime.client import Client, ServiceUnavailable
from runtime.protocol import naming
from runtime.protocol.envelope import CommandReply
from runtime.protocol.graph import RunGraph
from runtime.service.instances import instance_key
from runtime.transport.base import Msg
from tests.integration.conftest import Spawn
from tests.integration.test_service_processes import poll_until
from tests.support import edge, graph, node

pytestmark = pytest.mark.integration
SID = "dbg"
CLASS = "demo.mock_model_worker"
GRAPH = graph([node("tick", "core.tick", SID, tickMs=50), node("c", "core.counter", SID),
               node("show", "core.print", SID)],
              [edge("exec", "tick.out", "c.in"), edge("exec", "c.out", "show.in"),
               edge("data", "c.value", "show.value")],
              services=[{"serviceId": SID, "serviceClass": CLASS}])
WAIT = 20.0  # a bound on waiting for what must come, never a measure
ROUNDS = 40
"""Calls of one kind sent before the follower must have received one (each instance gets a
call with even odds: all 40 to the leader has odds 2**-40)."""


async def alive_instances(client: Client) -> list[dict[str, Any]]:
    try:
        reply = await client.call(SID, "status", timeout=1.0)
    except ServiceUnavailable:
        return []
    return [i for i in reply.result["instances"] if i["alive"]] if reply.ok else []


async def two_instances(client: Client, nats_url: str, spawn: Spawn) -> tuple[str, str]:
    """Two processes of ``SID`` running ``GRAPH``; the leader's and the follower's ids."""
    spawn(nats_url, SID, CLASS)
    spawn(nats_url, SID, CLASS)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while len(rows := await alive_instances(client)) < 2 or not any(
            r["role"] == "leader" for r in rows):
        assert loop.time() < deadline, f"two instances with a leader did not come up: {rows}"
        await asyncio.sleep(0.1)
    replies = await client.deploy(RunGraph.model_validate(GRAPH))
    assert replies[SID].result["instances"]["applied"] == 2, replies[SID]
    # the ids as the instances answer with them (a row written while an instance was still
    # starting may carry another), and each one's role as it says itself
    roles: dict[str, str] = {}
    while len(roles) < 2 or sorted(roles.values()) != ["follower", "leader"]:
        assert loop.time() < deadline + WAIT, f"two answering instances, one leading: {roles}"
        reply = await client.call(SID, "status", timeout=5.0)
        roles[reply.result["instanceId"]] = reply.result["instance"]["role"]
    leader = next(iid for iid, role in roles.items() if role == "leader")
    follower = next(iid for iid, role in roles.items() if role != "leader")
    return leader, follower


async def ask(client: Client, call: str, args: dict[str, Any] | None = None) -> Any:
    """``call`` sent on its own endpoint (the queue group picks the instance); its result."""
    body = json.dumps({"reqId": uuid.uuid4().hex, "call": call, "args": args or {},
                       "timeoutMs": 5000}).encode()
    msg = await client.transport.request(naming.builtin_subject(SID, call), body, 10.0)
    reply = CommandReply.model_validate_json(msg.data)
    assert reply.ok, f"{call}: {reply.error}"
    return reply.result


async def received(client: Client, instance_id: str) -> dict[str, int]:
    """How many requests each endpoint of instance ``instance_id`` received (micro's counts)."""
    subject = f"$SRV.STATS.{naming.micro_name(CLASS)}.{instance_id}"
    msg = await client.transport.request(subject, b"", 5.0)
    return {e["name"]: e["num_requests"] for e in json.loads(msg.data)["endpoints"]}


async def statuses(client: Client, ids: tuple[str, str], check: Any, what: str,
                   ) -> dict[str, dict[str, Any]]:
    """``status`` asked until each instance in ``ids`` has answered once with ``check`` true;
    the answers by instance id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    last: dict[str, dict[str, Any]] = {}
    while True:
        reply = await client.call(SID, "status", timeout=5.0)
        assert reply.ok, reply.error
        last[reply.result["instanceId"]] = reply.result
        done = {iid: s for iid, s in last.items() if check(s)}
        if set(done) >= set(ids):
            return done
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what} on both instances: "
                        f"{ {iid: (s['paused'], s['breakpoints']) for iid, s in last.items()} }")
        await asyncio.sleep(0.02)


async def test_breakpoints_pause_the_leader_and_every_instance_shows_it(
        client: Client, nats_url: str, spawn: Spawn) -> None:
    leader, follower = await two_instances(client, nats_url, spawn)
    ids = (leader, follower)
    wanted = {"break", "unbreak", "step", "continue"}
    for round_ in range(ROUNDS):
        result = await ask(client, "break", {"node": "c"})
        assert [b["node"] for b in result["breakpoints"]] == ["c"]

        shown = await statuses(client, ids, lambda s: (s["paused"] or {}).get("node") == "c",
                               "the pause before c")
        assert len({s["paused"]["ctxId"] for s in shown.values()}) == 1, shown
        assert all([b["node"] for b in s["breakpoints"]] == ["c"] for s in shown.values())
        assert shown[leader]["instance"]["role"] == "leader"
        ctx_id = shown[leader]["paused"]["ctxId"]

        assert (await ask(client, "unbreak", {"all": True}))["breakpoints"] == []
        at = "c"
        if round_ % 2:  # step: the pass pauses again before the next node
            resumed = await ask(client, "step")
            assert resumed == {"resumed": {"node": "c", "ctxId": ctx_id}, "action": "step"}
            shown = await statuses(client, ids, lambda s: (s["paused"] or {}).get("node") ==
                                   "show", "the step's pause before show")
            assert {(s["paused"]["ctxId"], s["paused"]["reason"]) for s in shown.values()} == {
                (ctx_id, "step")}
            at = "show"
        resumed = await ask(client, "continue")
        assert resumed == {"resumed": {"node": at, "ctxId": ctx_id}, "action": "continue"}
        await statuses(client, ids, lambda s: s["paused"] is None and not s["breakpoints"],
                       "the leader running on, with no breakpoint")
        if wanted <= {k for k, n in (await received(client, follower)).items() if n}:
            break
    else:
        pytest.fail(f"the follower did not receive each of {sorted(wanted)} in {ROUNDS} "
                    f"rounds: {await received(client, follower)}")


async def test_a_probe_and_stats_through_either_instance_are_the_leaders(
        client: Client, nats_url: str, spawn: Spawn) -> None:
    leader, follower = await two_instances(client, nats_url, spawn)
    for _ in range(ROUNDS):
        probe_id = uuid.uuid4().hex[:12]
        samples: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def on_sample(msg: Msg, into: asyncio.Queue[dict[str, Any]] = samples) -> None:
            into.put_nowait(json.loads(msg.data))

        sub = await client.transport.subscribe(naming.probe_subject(SID, probe_id), on_sample)
        try:
            opened = await ask(client, "probe", {"node": "c", "port": "value",
                                                 "probeId": probe_id, "maxRateHz": 1000})
            assert opened["probeId"] == probe_id
            sample = await asyncio.wait_for(samples.get(), WAIT)
            assert (sample["node"], sample["port"], sample["kind"]) == ("c", "value", "data")
            assert isinstance(sample["value"], int)
            await ask(client, "unprobe", {"probeId": probe_id})
        finally:
            await sub.unsubscribe()

        figures = await ask(client, "stats")
        assert figures["instanceId"] == leader
        assert next(n["passes"] for n in figures["nodes"] if n["node"] == "c") > 0
        if {"probe", "unprobe", "stats"} <= {k for k, n in
                                            (await received(client, follower)).items() if n}:
            break
    else:
        pytest.fail(f"the follower received no probe, unprobe or stats call in {ROUNDS} "
                    f"rounds: {await received(client, follower)}")


async def test_a_leader_killed_while_paused_is_replaced_by_one_that_runs(
        client: Client, nats_url: str, spawn: Spawn) -> None:
    leader, follower = await two_instances(client, nats_url, spawn)
    kv = await client.transport.key_value(naming.bucket_name(SID), create=False)
    await ask(client, "break", {"node": "c"})
    await statuses(client, (leader, follower),
                   lambda s: (s["paused"] or {}).get("node") == "c", "the pause before c")
    shared = await kv.get(naming.KEY_DEBUG)
    assert shared is not None
    assert shared.value is not None
    record = json.loads(shared.value)["value"]
    assert (record["instanceId"], record["paused"]["node"]) == (leader, "c")

    beat = await kv.get(instance_key(leader))
    assert beat is not None
    assert beat.value is not None
    pid = json.loads(beat.value)["pid"]
    os.kill(pid, signal.SIGKILL)

    async def runs() -> dict[str, Any]:
        try:  # the killed process may still be given a call until the server drops it
            reply = await client.call(SID, "status", timeout=1.0)
        except ServiceUnavailable:
            return {"instance": {}}
        assert reply.ok, reply.error
        return reply.result  # type: ignore[no-any-return]
    first = await poll_until(runs, lambda s: s["instance"].get("role") == "leader",
                             timeout=WAIT, what="the follower to take over")
    assert first["instanceId"] == follower
    now = await poll_until(runs, lambda s: s["passes"] > first["passes"], timeout=WAIT,
                           what="the new leader's passes")
    assert now["paused"] is None
    assert now["breakpoints"] == []
    await poll_until(lambda: kv.get(naming.KEY_DEBUG),
                     lambda e: e is None or e.value is None or e.op == "DEL", timeout=WAIT,
                     what="the new leader to clear KV debug")
