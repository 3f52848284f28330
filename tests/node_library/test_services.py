"""The demo model worker and its CPU mock."""

from __future__ import annotations

from typing import Any

import pytest

from node_library.services import MockModelWorker, ModelWorker, ReloadModel
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.service.sim import Simulation
from tests.support import Start, edge, graph, node, registry_with, service, simulate  # noqa: F401


async def worker(simulate: Start, **state: Any) -> Simulation:
    return await simulate(graph([], services=[service("gpu", "demo.model_worker", **state)]),
                          registry=registry_with())


async def test_reload_model_loads_the_path_and_bumps_the_version(simulate):
    sim = await worker(simulate, loadDelayMs=0)

    first = await sim.call("gpu", "reload_model", {"modelPath": "/models/a"})
    second = await sim.call("gpu", "reload_model", {"modelPath": "/models/b"})

    assert first.result == {"loaded": True, "modelPath": "/models/a", "version": 1}
    assert second.result == {"loaded": True, "modelPath": "/models/b", "version": 2}
    assert sim.state()["gpu"]["modelVersion"] == 2
    assert sim.state()["gpu"]["modelPath"] == "/models/b"


async def test_reload_model_needs_a_model_path(simulate):
    sim = await worker(simulate)

    reply = await sim.call("gpu", "reload_model", {"modelPath": ""})

    assert reply.error is not None
    assert reply.error.code == "INVALID_ARGS"
    assert sim.state()["gpu"]["modelVersion"] == 0


async def test_generate_yields_max_tokens_items(simulate):
    sim = await worker(simulate)

    reply = await sim.call("gpu", "generate", {"prompt": "hello", "maxTokens": 4})

    assert [item["index"] for item in reply.result] == [0, 1, 2, 3]
    assert all(len(item["token"]) == 6 for item in reply.result)


async def test_generate_is_deterministic_per_prompt(simulate):
    sim = await worker(simulate)

    one = await sim.call("gpu", "generate", {"prompt": "hello", "maxTokens": 3})
    again = await sim.call("gpu", "generate", {"prompt": "hello", "maxTokens": 3})
    other = await sim.call("gpu", "generate", {"prompt": "bye", "maxTokens": 3})

    assert one.result == again.result
    assert one.result != other.result


async def test_the_mock_outputs_a_score_between_zero_and_one(simulate):
    g = graph([node("tick", "core.tick", "gpu"), node("p", "core.print", "gpu")],
              [edge("exec", "tick.out", "p.in"), edge("data", "gpu.score", "p.value")],
              services=[service("gpu", "demo.model_worker")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(3)

    assert 0.0 <= sim.state()["p"]["last"] <= 1.0
    assert sim.errors() == []


def test_the_real_worker_asks_for_a_gpu_and_names_its_mock():
    spec = ModelWorker.spec()

    assert spec.resources is not None
    assert spec.resources.gpu == 1
    assert spec.mockClass == "demo.mock_model_worker"
    assert MockModelWorker.spec().isMock is True
    assert {c.name for c in MockModelWorker.spec().commands} == {"reload_model", "generate"}


async def test_the_real_worker_refuses_to_load_without_gpu_inference():
    with pytest.raises(CommandError, match="GPU") as info:
        await ModelWorker("gpu").reload_model(ReloadModel(modelPath="/models/a"))

    assert info.value.code == ErrorCode.INTERNAL
