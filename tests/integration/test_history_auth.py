"""State history with authentication on: a service may not make its history stream (only the
keeper makes streams) and runs on without it; once the keeper made it, a viewer reads a field's
history, and restoring a moment is refused to a viewer and done for an admin."""

from __future__ import annotations

import pytest

from runtime import Service
from runtime.auth import Role
from runtime.client import Client
from runtime.client.directory import issue_identity
from runtime.client.history import history
from runtime.client.restore import RestoreRefused, restore_moment
from runtime.protocol.envelope import ErrorCode
from runtime.service.bus import ServiceBus
from runtime.service.history import HistoryOutcome, ensure_history
from runtime.service.host import ServiceHost
from runtime.service.keeper import connect_keeper
from runtime.service.main import check_callers
from runtime.transport.nats import connect
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Secured,
    identity,
    secured,
    server,
)
from tests.integration.test_service_processes import poll_until
from tests.support import registry_with

pytestmark = pytest.mark.integration


class Kept(Service):
    class_name = "test.kept_host"


GRAPH = {"graphId": "kept", "revision": 1,
         "services": [{"serviceId": "s1", "serviceClass": "test.kept_host"}],
         "nodes": [{"nodeId": "tick", "serviceId": "s1", "class": "core.tick",
                    "stateValues": {"tickMs": 500_000}}],
         "edges": []}


async def serve_kept(world: Secured) -> ServiceHost:
    issued, _ = await issue_identity(world.store, Role.service, "s1", "default", "s1",
                                     url=world.url)
    transport = await connect(world.url, name="s1", nkeys_seed=world.store.seed_path(issued))
    host = ServiceHost(ServiceBus(transport, "s1"), registry_with(Kept), Kept)
    assert await check_callers(host) is not None
    await host.start(serve=True, restore=False)
    world.hosts.append(host)
    await host.apply(GRAPH, "admin:test")
    return host


async def test_the_keeper_makes_the_history_with_the_bucket_and_viewers_read_it(
        secured: Secured) -> None:
    host = await serve_kept(secured)
    # issuing the service identity made its bucket and its history stream, as the keeper
    assert host.history is HistoryOutcome.EXISTS
    keeper = await connect_keeper(secured.url, secured.store)
    secured.conns.append(keeper)
    assert await ensure_history(keeper, "s1", 1, create=True) is HistoryOutcome.EXISTS
    assert await ensure_history(host.bus.transport, "s9", 1) is HistoryOutcome.REFUSED

    admin = Client((await identity(secured, Role.admin, "ada")).transport, actor="ada")
    for value in (600_000, 700_000):
        reply = await admin.call("s1", "set_state", {"nodeId": "tick", "field": "tickMs",
                                                     "value": value})
        assert reply.ok, reply
    viewer = await identity(secured, Role.viewer, "val")
    as_viewer = Client(viewer.transport, actor="val")

    async def kept() -> list[int]:
        return [c.value for c in await history(viewer.transport, "s1", "tick", "tickMs")]

    await poll_until(kept, lambda got: got[-2:] == [600_000, 700_000],
                     what="the viewer reading both changes")
    assert not viewer.violations
    changes = await history(viewer.transport, "s1", "tick", "tickMs")
    assert changes[-2].actor == "admin:ada"

    with pytest.raises(RestoreRefused, match="admin action") as refused:
        await restore_moment(as_viewer, "s1", seq=changes[-2].seq)
    assert refused.value.code == ErrorCode.FORBIDDEN.value
    done = await restore_moment(admin, "s1", seq=changes[-2].seq)
    assert done.set == [("tick", "tickMs")]
    assert host.bus.state["tick"]["tickMs"] == 600_000
