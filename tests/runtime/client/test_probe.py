"""The client's probe stream: on a Simulation in process (Simulate), and its sample parsing."""

from __future__ import annotations

import pytest

from runtime.client.probe import ProbeRefused, ProbeSample, SimulationCaller, probe
from runtime.protocol.envelope import ErrorCode
from tests.runtime.service.test_probes import chain
from tests.support import simulate  # noqa: F401


async def test_the_client_probe_works_on_a_simulation_in_process(simulate):
    sim = await simulate(chain())
    async with probe(SimulationCaller(sim), "main", "count", "value",
                     max_rate_hz=1000) as samples:
        await sim.step(1)
        first = await anext(samples)
        await sim.step(1)
        second = await anext(samples)
        assert sim.hosts["main"].bus.executor.probes.report()[0]["actor"] == "studio"
    assert (first.value, second.value) == (1, 2)
    assert (first.seq, second.seq) == (1, 2)
    assert not sim.hosts["main"].bus.executor.probes.probes  # unprobed on the way out


async def test_a_refused_probe_raises_with_its_code_and_leaves_nothing(simulate):
    sim = await simulate(chain())
    caller = SimulationCaller(sim)
    with pytest.raises(ProbeRefused, match="no node 'ghost'") as refused:
        async with probe(caller, "main", "ghost", "value"):
            pass
    assert refused.value.code is ErrorCode.NOT_FOUND
    assert not [s for s in sim.hub.subs if s.pattern.startswith("svc.main.probes.")]


def test_a_sample_parses_and_a_malformed_one_is_refused() -> None:
    sample = ProbeSample.from_json(b'{"probeId":"p","node":"n","port":"o","kind":"data","ts":1,'
                                   b'"seq":2,"passes":3,"dropped":1,"value":[1],'
                                   b'"truncated":true}')
    assert (sample.value, sample.passes, sample.dropped, sample.truncated) == ([1], 3, 1, True)
    assert sample.to_dict()["value"] == [1]
    with pytest.raises(ValueError, match="not a probe sample"):
        ProbeSample.from_json(b'{"probeId":"p"}')
