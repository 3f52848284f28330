"""UDP In, UDP Out and HTTP Request in Simulate, against real sockets and a local HTTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from node_library.bridges_net import (
    HttpRequest,
    UdpIn,
    UdpOut,
    datagram_bytes,
    datagram_value,
    request_parts,
)
from tests.support import edge, eventually, graph, node, simulate  # noqa: F401

# -- UDP -----------------------------------------------------------------------------------------


def udp_graph(fmt: str = "text") -> dict[str, Any]:
    return graph(
        [node("udp", "bridge.udp_in", format=fmt), node("p", "core.print"),
         node("from", "core.print"), node("n", "core.counter")],
        [edge("exec", "udp.received", "p.in"), edge("exec", "p.out", "from.in"),
         edge("exec", "from.out", "n.in"), edge("data", "udp.value", "p.value"),
         edge("data", "udp.sender", "from.value")])


async def test_udp_round_trip_on_loopback(simulate):
    sim = await simulate(udp_graph("json"))
    sim.start()
    await eventually(lambda: sim.state()["udp"]["boundPort"] > 0, what="a bound port")
    port = sim.state()["udp"]["boundPort"]
    sender = await simulate(graph(
        [node("tick", "core.tick"), node("k", "data.json_path", path="x",
                                         fallback={"t": 21.5}),
         node("out", "bridge.udp_out", host="127.0.0.1", port=port, format="json")],
        [edge("exec", "tick.out", "out.in"), edge("data", "k.value", "out.value")]))

    await sender.step(2)
    await eventually(lambda: sim.state()["n"]["count"] == 2, what="two datagrams")

    state = sim.state()
    assert state["p"]["last"] == {"t": 21.5}
    assert state["from"]["last"].startswith("127.0.0.1:")
    assert "_error" not in sender.state()["out"]


async def test_udp_in_counts_bad_datagrams_and_closes_when_deactivated(simulate):
    sim = await simulate(udp_graph("text"))
    sim.start()
    await eventually(lambda: sim.state()["udp"]["boundPort"] > 0, what="a bound port")
    port = sim.state()["udp"]["boundPort"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\xff\xfe", ("127.0.0.1", port))
        sock.sendto("héllo".encode(), ("127.0.0.1", port))
        await eventually(lambda: sim.state()["n"]["count"] == 1, what="one good datagram")
        assert sim.state()["p"]["last"] == "héllo"
        assert sim.state()["udp"]["malformed"] == 1

        assert (await sim.call("main", "deactivate")).ok
        await eventually(lambda: sim.state()["udp"]["boundPort"] == 0, what="the socket closed")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))  # the port is free again


@pytest.mark.parametrize(("cls", "field", "value", "problem"), [
    (UdpIn, "host", "bad host!", "neither an IP address nor a host name"),
    (UdpIn, "port", 70000, "above the maximum 65535"),
    (UdpIn, "queueSize", 0, "below the minimum 1"),
    (UdpOut, "port", 0, "below the minimum 1"),
    (HttpRequest, "url", "ftp://x", "must be http:// or https://"),
    (HttpRequest, "timeoutMs", 60_001, "above the maximum 60000"),
    (HttpRequest, "timeoutMs", 0, "below the minimum 1"),
    (HttpRequest, "method", "TRACE", "'GET'"),
])
def test_bad_settings_are_refused(cls, field, value, problem):
    with pytest.raises(ValueError, match=problem):
        cls._fields[field].validate(value)


def test_datagram_conversions():
    assert datagram_value(b"\x00", "base64") == "AA=="
    assert datagram_bytes("AA==", "base64") == b"\x00"
    assert datagram_bytes("hi", "text") == b"hi"
    assert datagram_bytes({"a": 1}, "text") == b'{"a":1}'
    with pytest.raises(ValueError, match="larger than 65507"):
        datagram_bytes("x" * 70_000, "text")


# -- HTTP ----------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/fail":
            self._answer(500, b"broken")
        elif self.path == "/slow":
            time.sleep(3)
            try:
                self._answer(200, b"late")
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up first, as the timeout test wants
        elif self.path == "/big":
            self._answer(200, b"x" * 5000)
        else:
            self._answer(200, b"hello")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        echo = {"body": body.decode(), "type": self.headers.get("Content-Type"),
                "token": self.headers.get("X-Token")}
        self._answer(201, json.dumps(echo).encode())


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http_graph(url: str, **state: Any) -> dict[str, Any]:
    return graph(
        [node("tick", "core.tick"), node("http", "bridge.http_request", url=url, **state),
         node("body", "data.json_path", path="x", fallback={"v": 1}),
         node("status", "core.print"), node("text", "core.print"), node("error", "core.print"),
         node("failed", "core.counter")],
        [edge("exec", "tick.out", "http.in"), edge("exec", "http.done", "status.in"),
         edge("exec", "status.out", "text.in"), edge("exec", "text.out", "error.in"),
         edge("exec", "http.failed", "failed.in"), edge("exec", "failed.out", "error.in"),
         edge("data", "http.status", "status.value"), edge("data", "http.response", "text.value"),
         edge("data", "http.error", "error.value"), edge("data", "body.value", "http.body")])


async def test_get_gives_status_and_body(simulate, server):
    sim = await simulate(http_graph(server + "/hello"))
    await sim.step(1)

    state = sim.state()
    assert (state["status"]["last"], state["text"]["last"]) == (200, "hello")
    assert state["error"]["last"] == ""
    assert state["failed"]["count"] == 0


async def test_a_500_is_a_response_not_a_failure(simulate, server):
    sim = await simulate(http_graph(server + "/fail"))
    await sim.step(1)

    state = sim.state()
    assert (state["status"]["last"], state["text"]["last"]) == (500, "broken")
    assert state["failed"]["count"] == 0


async def test_post_sends_json_and_headers(simulate, server):
    sim = await simulate(http_graph(server + "/echo", method="POST"))
    await sim.step(1)

    state = sim.state()
    assert state["status"]["last"] == 201
    echo = json.loads(state["text"]["last"])
    assert echo == {"body": '{"v":1}', "type": "application/json", "token": None}


async def test_a_timeout_fires_failed_with_the_reason(simulate, server):
    sim = await simulate(http_graph(server + "/slow", timeoutMs=200))
    await sim.step(1)

    state = sim.state()
    assert state["failed"]["count"] == 1
    assert state["error"]["last"] == "no response within 200 ms"
    assert state["status"]["last"] is None  # the done branch never ran


async def test_a_refused_connection_fires_failed(simulate):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens on it
    sim = await simulate(http_graph(f"http://127.0.0.1:{port}/"))
    await sim.step(1)

    assert sim.state()["failed"]["count"] == 1
    assert "ConnectError" in sim.state()["error"]["last"]


async def test_a_long_body_is_cut_at_max_body_bytes(simulate, server):
    sim = await simulate(http_graph(server + "/big", maxBodyBytes=1000))
    await sim.step(1)

    state = sim.state()
    assert state["text"]["last"] == "x" * 1000
    assert state["error"]["last"] == "response body cut at 1000 bytes"


async def test_http_without_a_url_is_recorded_on_the_node(simulate):
    sim = await simulate(http_graph(""))
    await sim.step(1)

    assert "set url first" in sim.state()["http"]["_error"]["message"]


def test_request_parts():
    assert request_parts(None, None) == (None, {})
    assert request_parts("hi", {"X-Token": "t"}) == (b"hi", {"X-Token": "t"})
    assert request_parts([1], {"content-type": "text/x"}) == (b"[1]", {"content-type": "text/x"})
    with pytest.raises(ValueError, match="headers must be an object of strings"):
        request_parts(None, {"a": 1})
