"""Wire probes in process: the rate limit on an injected clock, value encoding, and the built-in
calls ``probe`` / ``unprobe`` on a simulated service (the memory transport)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from runtime.protocol.envelope import ErrorCode
from runtime.service.probes import MAX_PROBES, LatestValueGate, encode_value
from runtime.service.sim import Simulation
from runtime.transport.base import Msg
from tests.support import edge, eventually, graph, node, simulate  # noqa: F401

# -- the rate limit, without sleeping --------------------------------------------------------


def test_the_first_value_goes_at_once_and_the_next_waits_for_its_slot() -> None:
    gate = LatestValueGate(max_rate_hz=2.0)  # a slot every 0.5 s
    assert gate.offer("a", now=10.0) == 10.0
    sample = gate.take(10.0)
    assert sample is not None
    assert (sample.value, sample.passes, sample.dropped) == ("a", 1, 0)
    assert gate.offer("b", now=10.1) == 10.5  # a trailing send at the next slot


def test_the_trailing_send_carries_the_latest_value_and_counts_the_rest_dropped() -> None:
    gate = LatestValueGate(max_rate_hz=2.0)
    gate.offer(1, now=0.0)
    gate.take(0.0)
    assert gate.offer(2, now=0.1) == 0.5
    assert gate.offer(3, now=0.2) is None  # a send is due already
    assert gate.offer(4, now=0.3) is None
    sample = gate.take(0.5)
    assert sample is not None
    assert (sample.value, sample.passes, sample.dropped) == (4, 4, 2)
    assert gate.take(0.6) is None  # nothing held: nothing to send


def test_one_plus_dropped_over_all_samples_adds_up_to_the_passes() -> None:
    gate = LatestValueGate(max_rate_hz=10.0)
    sent: list[Any] = []
    due: float | None = None
    for i in range(1000):  # 1 kHz for a second, on a clock of our own
        now = i / 1000
        if due is not None and now >= due:
            sent.append(gate.take(now))
            due = None
        when = gate.offer(i, now)
        if when is not None:
            due = when
    assert due is not None
    sent.append(gate.take(due))
    assert sent[-1].value == 999  # the last value is never lost
    assert sum(1 + s.dropped for s in sent) == sent[-1].passes == 1000
    assert len(sent) <= 11  # one a slot (10 a second), plus the first at once


def test_a_postponed_sample_keeps_its_value_and_tries_again_a_slot_later() -> None:
    gate = LatestValueGate(max_rate_hz=4.0)
    gate.offer("x", now=1.0)
    assert gate.postpone(1.0) == 1.25
    assert gate.offer("y", now=1.1) is None
    sample = gate.take(1.25)
    assert sample is not None
    assert (sample.value, sample.dropped) == ("y", 1)


def test_a_large_value_is_cut_and_its_size_kept() -> None:
    data, size = encode_value(list(range(10_000)), limit=1000)
    assert size is not None
    assert size > 1000
    text = json.loads(data)
    assert isinstance(text, str)
    assert text.startswith("[0,1,2")
    assert len(data) < 1000


def test_a_value_without_json_form_goes_as_its_text() -> None:
    assert json.loads(encode_value(math.nan, 1000)[0]) == "nan"
    assert encode_value({"a": 1.5}, 1000) == (b'{"a":1.5}', None)


# -- the calls, on a simulated service ---------------------------------------------------------

def chain() -> dict[str, Any]:
    return graph([node("tick", "core.tick", tickMs=10), node("count", "core.counter"),
                  node("show", "core.print")],
                 [edge("exec", "tick.out", "count.in"), edge("exec", "count.out", "show.in"),
                  edge("data", "count.value", "show.value")])


async def listen(sim: Simulation, subject: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    async def on_msg(msg: Msg) -> None:
        got.append(json.loads(msg.data))

    await sim.hub.connect().subscribe(subject, on_msg)
    return got


async def test_a_data_probe_sees_each_value_the_downstream_node_receives(simulate):
    sim = await simulate(chain())
    reply = await sim.call("main", "probe", {"node": "count", "port": "value",
                                             "maxRateHz": 1000, "probeId": "p1"})
    assert reply.ok, reply
    assert reply.result["subject"] == "svc.main.probes.p1"
    assert reply.result["kind"] == "data"
    got = await listen(sim, reply.result["subject"])
    for _ in range(5):
        await sim.step(1)
        await eventually(lambda: len(got) == sim.state()["show"]["last"], what="one sample "
                         "per pass")
    assert [s["value"] for s in got] == [1, 2, 3, 4, 5]
    assert got[-1]["value"] == sim.state()["show"]["last"]
    assert [s["seq"] for s in got] == [1, 2, 3, 4, 5]
    assert {s["node"] for s in got} == {"count"}
    assert {s["dropped"] for s in got} == {0}


async def test_an_exec_probe_counts_fires_and_status_shows_node_passes(simulate):
    sim = await simulate(chain())
    reply = await sim.call("main", "probe", {"node": "tick", "port": "out", "maxRateHz": 0.1})
    got = await listen(sim, reply.result["subject"])
    await sim.step(7)
    status = (await sim.call("main", "status")).result
    assert status["nodePasses"] == {"main": 0, "tick": 7, "count": 7, "show": 7}
    [row] = status["probes"]
    assert (row["node"], row["port"], row["kind"], row["passes"]) == ("tick", "out", "exec", 7)
    await eventually(lambda: len(got) == 1, what="the first fire")
    assert got[0]["kind"] == "exec"
    assert "value" not in got[0]


async def test_unknown_nodes_and_ports_are_refused_naming_them(simulate):
    sim = await simulate(chain())
    reply = await sim.call("main", "probe", {"node": "ghost", "port": "value"})
    assert reply.error is not None
    assert reply.error.code is ErrorCode.NOT_FOUND
    assert "ghost" in reply.error.message
    reply = await sim.call("main", "probe", {"node": "count", "port": "nope"})
    assert reply.error is not None
    assert reply.error.code is ErrorCode.NOT_FOUND
    assert "'nope'" in reply.error.message
    assert "value" in reply.error.message
    assert reply.error.details["execOut"] == ["out"]


@pytest.mark.parametrize("args", [{"maxRateHz": 0}, {"maxRateHz": 5000}, {"ttlS": 0.1},
                                  {"maxRateHz": True}, {"probeId": "a.b"}])
async def test_bad_args_are_refused_naming_the_field(simulate, args):
    sim = await simulate(chain())
    reply = await sim.call("main", "probe", {"node": "count", "port": "value", **args})
    assert reply.error is not None
    assert reply.error.code is ErrorCode.INVALID_ARGS
    assert next(iter(args)) in reply.error.message


async def test_more_probes_than_the_limit_are_refused_busy(simulate):
    sim = await simulate(chain())
    for _ in range(MAX_PROBES):
        assert (await sim.call("main", "probe", {"node": "count", "port": "value"})).ok
    reply = await sim.call("main", "probe", {"node": "count", "port": "value"})
    assert reply.error is not None
    assert reply.error.code is ErrorCode.BUSY
    assert f"{MAX_PROBES} probes" in reply.error.message


async def test_calling_again_renews_and_unprobe_stops(simulate):
    sim = await simulate(chain())
    args = {"node": "count", "port": "value", "probeId": "p1"}
    assert (await sim.call("main", "probe", args)).result["renewed"] is False
    assert (await sim.call("main", "probe", args)).result["renewed"] is True
    other = await sim.call("main", "probe", {**args, "port": "out"})
    assert other.error is not None
    assert other.error.code is ErrorCode.CONFLICT
    assert (await sim.call("main", "unprobe", {"probeId": "p1"})).result["removed"] is True
    assert (await sim.call("main", "unprobe", {"probeId": "p1"})).result["removed"] is False
    ex = sim.hosts["main"].bus.executor
    assert not ex.probes.data
    assert not ex.probes.exec
    got = await listen(sim, "svc.main.probes.p1")
    await sim.step(3)
    assert got == []


async def test_an_unrenewed_probe_expires(simulate):
    sim = await simulate(chain())
    await sim.call("main", "probe", {"node": "count", "port": "value", "ttlS": 1})
    ex = sim.hosts["main"].bus.executor
    assert ex.probes.probes
    await eventually(lambda: not ex.probes.probes, timeout=10, what="the lease to end")
    assert not ex.probes.data

