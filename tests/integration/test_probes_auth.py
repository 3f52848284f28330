"""Wire probes with authentication on: a viewer may probe (call ``probe`` and hear
``svc.{sid}.probes.>``), another service's identity may not; the service publishes its samples
under its own ``svc.{sid}.>``."""

from __future__ import annotations

import asyncio

import pytest

from runtime import Service
from runtime.auth import Role
from runtime.client import Client
from runtime.client.directory import issue_identity
from runtime.client.probe import ProbeRefused, ProbeSample, probe
from runtime.protocol.envelope import ErrorCode
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.main import check_callers
from runtime.transport.nats import connect
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Conn,
    Secured,
    identity,
    secured,
    server,
)
from tests.support import eventually, registry_with

pytestmark = pytest.mark.integration
WAIT = 20.0  # a bound on waiting for what must come, never a measure


class Host(Service):
    class_name = "test.probed_host"


GRAPH = {"graphId": "probed", "revision": 1,
         "services": [{"serviceId": "s1", "serviceClass": "test.probed_host"}],
         "nodes": [{"nodeId": "tick", "serviceId": "s1", "class": "core.tick",
                    "stateValues": {"tickMs": 20}},
                   {"nodeId": "count", "serviceId": "s1", "class": "core.counter"},
                   {"nodeId": "show", "serviceId": "s1", "class": "core.print"}],
         "edges": [{"kind": "exec", "from": {"node": "tick", "port": "out"},
                    "to": {"node": "count", "port": "in"}},
                   {"kind": "exec", "from": {"node": "count", "port": "out"},
                    "to": {"node": "show", "port": "in"}},
                   {"kind": "data", "from": {"node": "count", "port": "value"},
                    "to": {"node": "show", "port": "value"}}]}


async def serve_ticking(world: Secured) -> ServiceHost:
    issued, _ = await issue_identity(world.store, Role.service, "s1", "default", "s1",
                                     url=world.url)
    transport = await connect(world.url, name="s1", nkeys_seed=world.store.seed_path(issued))
    host = ServiceHost(ServiceBus(transport, "s1"), registry_with(Host), Host)
    assert await check_callers(host) is not None
    await host.start(serve=True, restore=False)
    world.hosts.append(host)
    await host.apply(GRAPH, "admin:test")
    host.start_sources()
    return host


async def test_a_viewer_probes_and_hears_the_samples(secured: Secured) -> None:
    host = await serve_ticking(secured)
    viewer = await identity(secured, Role.viewer, "val")
    got: list[ProbeSample] = []
    async with probe(Client(viewer.transport, actor="val"), "s1", "count", "value",
                     max_rate_hz=100) as samples:
        async with asyncio.timeout(WAIT):
            async for sample in samples:
                got.append(sample)
                if len(got) == 3:
                    break
        assert host.bus.executor.probes.report()[0]["actor"] == "viewer:val"
    assert [s.seq for s in got] == [1, 2, 3]
    assert all(isinstance(s.value, int) for s in got)
    assert not viewer.violations  # subscribing to svc.s1.probes.> was allowed
    await eventually(lambda: not host.bus.executor.probes.probes, what="unprobe on exit")


async def test_another_services_identity_may_not_probe(secured: Secured) -> None:
    host = await serve_ticking(secured)
    s2 = await Conn(secured.store.ensure_service("default", "s2")).open(secured)
    with pytest.raises(ProbeRefused, match="may not call 'probe'") as refused:
        async with probe(Client(s2.transport, actor="s2"), "s1", "count", "value"):
            pass
    assert refused.value.code is ErrorCode.FORBIDDEN
    await asyncio.sleep(0)
    assert host.bus.executor.probes.probes == {}
