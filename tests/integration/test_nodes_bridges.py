"""Bridges deployed to a real service process on a real nats-server: the nats_bridge example
hears another system's sensors.temp and publishes to its alerts.temp; with authentication on,
a bridge reaches only its service's own subjects; HTTP, file and UDP bridges chain."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
import pytest

from runtime import Service
from runtime.auth import Role
from runtime.client import Client
from runtime.client.directory import issue_identity
from runtime.protocol.graph import RunGraph
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg
from runtime.transport.nats import connect
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Conn,
    Secured,
    secured,
    server,
)
from tests.integration.test_service_processes import poll_until
from tests.support import edge, graph, node, registry_with, service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def snapshot(client: Client, sid: str) -> dict[str, Any]:
    reply = await client.call(sid, "get_state", {}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def test_a_service_bridges_another_systems_subjects(client, nats_url, spawn: Spawn):
    raw = json.loads((ROOT / "assets/examples/nats_bridge.json").read_text())
    spawn(nats_url, "bridge")
    await wait_ready(client, "bridge")
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies

    other = await nats.connect(nats_url)  # another system: a plain NATS client
    alerts: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def on_alert(msg: Any) -> None:
        await alerts.put((msg.subject, msg.data))

    try:
        await other.subscribe("alerts.>", cb=on_alert)

        async def publish_and_read() -> dict[str, Any]:
            # the service subscribes once deployed: publish until a message got through
            await other.publish("sensors.temp", json.dumps({"celsius": 30.5}).encode())
            await other.flush()
            return await snapshot(client, "bridge")

        state = await poll_until(publish_and_read, lambda s: s["forwarded"]["count"] >= 1,
                                 what="a forwarded sensor message")
        subject, data = await asyncio.wait_for(alerts.get(), timeout=10)
    finally:
        await other.close()

    assert state["show"]["last"] == 30.5
    assert (subject, json.loads(data)) == ("alerts.temp", 30.5)
    assert state["sensors"]["malformed"] == 0
    assert not any("_error" in values for values in state.values())


class BridgeHost(Service):
    class_name = "test.bridge_host"


AUTH_GRAPH = graph(
    [node("outside", "bridge.nats_subscribe", "s1", subject="sensors.>"),
     node("inside", "bridge.nats_subscribe", "s1", subject="svc.s1.in.>"),
     node("p", "core.print", "s1"),
     node("pub", "bridge.nats_publish", "s1", subject="svc.s1.out.temp"),
     node("n", "core.counter", "s1")],
    [edge("exec", "inside.received", "p.in"), edge("exec", "p.out", "pub.in"),
     edge("exec", "pub.out", "n.in"), edge("data", "inside.value", "p.value"),
     edge("data", "inside.value", "pub.value")],
    services=[service("s1", "test.bridge_host")])


async def test_with_authentication_a_bridge_reaches_only_the_services_own_subjects(
        secured: Secured) -> None:
    issued, _ = await issue_identity(secured.store, Role.service, "s1", "default", "s1",
                                     url=secured.url)
    transport = await connect(secured.url, name="s1",
                              nkeys_seed=secured.store.seed_path(issued))
    host = ServiceHost(ServiceBus(transport, "s1"), registry_with(BridgeHost), BridgeHost)
    await host.start(serve=True, restore=False)
    secured.hosts.append(host)
    await host.apply(AUTH_GRAPH, "admin:test")
    host.start_sources()
    # the other system: here a second connection of s1's identity, the one user the
    # server lets publish under svc.s1.>
    peer = await Conn(issued).open(secured)
    heard: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_out(msg: Msg) -> None:
        await heard.put(msg.data)

    await peer.transport.subscribe("svc.s1.out.>", on_out)

    async def publish_and_count() -> int:
        await peer.transport.publish("svc.s1.in.temp", b'{"celsius": 19}')
        await peer.transport.flush()
        return int(host.bus.state["n"]["count"])

    await poll_until(publish_and_count, lambda n: n >= 1, what="a bridged message")

    assert json.loads(await asyncio.wait_for(heard.get(), timeout=10)) == {"celsius": 19}
    message = host.bus.state["outside"]["_error"]["message"]
    assert "service 's1' may not subscribe to 'sensors.>'" in message
    assert "_error" not in host.bus.state["inside"]
    assert not peer.violations


class Hello(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


async def test_http_file_and_udp_bridges_chain_in_a_deployed_service(
        client, nats_url, spawn: Spawn, tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        udp_port = sock.getsockname()[1]
    log = tmp_path / "bridge.log"
    log.write_text("")
    # tick -> HTTP GET -> File Write; File Tail -> UDP Out; UDP In -> Print -> Counter
    raw = graph(
        [node("tick", "core.tick", tickMs=50),
         node("http", "bridge.http_request", url=f"http://127.0.0.1:{httpd.server_address[1]}/"),
         node("write", "bridge.file_write", path=str(log)),
         node("tail", "bridge.file_tail", path=str(log), pollMs=20),
         node("send", "bridge.udp_out", port=udp_port),
         node("hear", "bridge.udp_in", port=udp_port),
         node("p", "core.print"), node("n", "core.counter")],
        [edge("exec", "tick.out", "http.in"), edge("exec", "http.done", "write.in"),
         edge("data", "http.response", "write.value"),
         edge("exec", "tail.fired", "send.in"), edge("data", "tail.line", "send.value"),
         edge("exec", "hear.received", "p.in"), edge("exec", "p.out", "n.in"),
         edge("data", "hear.value", "p.value")])
    try:
        spawn(nats_url, "main")
        await wait_ready(client, "main")
        replies = await client.deploy(RunGraph.model_validate(raw))
        assert all(r.ok for r in replies.values()), replies

        state = await poll_until(lambda: snapshot(client, "main"),
                                 lambda s: s["n"]["count"] >= 2, what="two bridged lines")
    finally:
        httpd.shutdown()
        httpd.server_close()

    assert state["p"]["last"] == "hello"
    assert state["hear"]["boundPort"] == udp_port
    assert state["tail"]["following"] is True
    assert log.read_text().startswith("hello\nhello\n")
    assert not any("_error" in values for values in state.values())
