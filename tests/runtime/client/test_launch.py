"""Launching service processes: the command line, and waiting until a service answers."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from runtime.client import Client, NoService, ServiceExited, wait_answering
from runtime.client.launch import service_argv, service_command
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.support import eventually, registry_with


def test_a_service_runs_as_a_module_of_this_interpreter() -> None:
    assert service_command() == [sys.executable, "-m", "runtime.service.main"]
    assert service_argv("nats://h:1", "cam1", "demo.mock_camera") == [
        sys.executable, "-m", "runtime.service.main", "--nats", "nats://h:1",
        "--service-id", "cam1", "--class", "demo.mock_camera"]


def test_a_frozen_bundle_starts_itself_with_the_service_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert service_command() == [sys.executable, "service"]


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub("launch")


class Counting:
    """A client that counts the calls it was asked to make."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls = 0

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109
        self.calls += 1
        return await self.client.call(service_id, call, args, timeout)


async def test_wait_answering_returns_once_the_service_is_up(hub: MemoryHub) -> None:
    client = Counting(Client(hub.connect()))
    host = ServiceHost(ServiceBus(hub.connect(), "late"), registry_with(), NoopService,
                       autostart_sources=False)
    waiting = asyncio.create_task(wait_answering(client, "late", 10.0, interval=0.01))
    await eventually(lambda: client.calls >= 3, what="a few unanswered status calls")
    assert not waiting.done()
    await host.start(serve=True, restore=False)
    await asyncio.wait_for(waiting, 5.0)
    asked = client.calls
    await host.stop()
    assert asked >= 4


async def test_wait_answering_gives_up_with_no_service(hub: MemoryHub) -> None:
    with pytest.raises(NoService, match="did not come up within 0.1s") as info:
        await wait_answering(Client(hub.connect()), "ghost", 0.1, interval=0.01)
    assert info.value.code == ErrorCode.NOT_FOUND


async def test_wait_answering_stops_when_the_process_exits(hub: MemoryHub) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(4)")
    with pytest.raises(ServiceExited, match="exited with code 4") as info:
        await wait_answering(Client(hub.connect()), "crashy", 30.0, proc, interval=0.01)
    assert info.value.returncode == 4
    assert info.value.code == ErrorCode.NOT_FOUND
