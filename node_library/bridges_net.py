"""Network bridges: UDP In (an exec source on a UDP port), UDP Out, and HTTP Request (an
asynchronous request with a timeout, made with httpx)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import re
from collections import deque
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator

from node_library.bridges_source import ActiveGate, run_while_active
from runtime import (
    DataIn,
    DataOut,
    ExecContext,
    ExecIn,
    ExecOut,
    Inputs,
    Operator,
    SourceContext,
    State,
)

if TYPE_CHECKING:
    import httpx  # imported when a request is made: it takes a while to import

UdpFormat = Literal["text", "base64", "json"]
MAX_DATAGRAM = 65507
"""The largest UDP payload over IPv4."""
MAX_UDP_QUEUE = 1024
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def check_host(host: str) -> str:
    """``host`` if it is an IP address or a host name."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOSTNAME.match(host):
        raise ValueError(f"host {host!r} is neither an IP address nor a host name")
    return host


Host = Annotated[str, AfterValidator(check_host)]


def datagram_value(data: bytes, fmt: str) -> Any:
    """A datagram's value: UTF-8 text, base64 of its bytes, or its JSON. Raises ValueError
    when it is not UTF-8 (text) or its JSON does not parse."""
    if fmt == "base64":
        return base64.b64encode(data).decode("ascii")
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if fmt == "text":
        return text
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON nests too deep") from None


def datagram_bytes(value: Any, fmt: str) -> bytes:
    """What UDP Out sends for ``value``: text (a string as is, anything else as JSON), the
    bytes of a base64 string, or JSON."""
    if fmt == "base64":
        if not isinstance(value, str):
            raise ValueError(f"format base64 sends a base64 string, not {type(value).__name__}")
        try:
            data = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"value is not base64: {exc}") from None
    elif fmt == "text" and isinstance(value, str):
        data = value.encode()
    else:
        data = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    if len(data) > MAX_DATAGRAM:
        raise ValueError(f"a datagram of {len(data)} bytes is larger than {MAX_DATAGRAM}")
    return data


class _Datagrams(asyncio.DatagramProtocol):
    """Received datagrams in a bounded queue (the oldest dropped past ``size``)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.queue: deque[tuple[bytes, Any]] = deque()
        self.dropped = 0
        self.ready = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(self.queue) >= self.size:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append((data, addr))
        self.ready.set()


class UdpIn(Operator):
    """Fires received once per UDP datagram that arrives on host:port, while its service is
    active: the socket is closed when the service is deactivated and bound again when it is
    activated (and when host or port change).

    value holds the datagram during the pass: UTF-8 text (format text), base64 of its bytes
    (base64) or its JSON (json); sender is the address it came from. Port 0 binds a free
    port, shown in boundPort. The default host 127.0.0.1 hears only this machine; 0.0.0.0
    hears every interface. Datagrams wait in a queue of queueSize; past it the oldest are
    dropped (dropped); a datagram that does not decode is counted in malformed."""

    class_name = "bridge.udp_in"
    label = "UDP In"
    category = "bridges"
    received = ExecOut(doc="fires once per datagram")
    value = DataOut(Any, doc="the datagram's value")
    sender = DataOut(str, doc="where the datagram came from, host:port")
    host = State(Host, "127.0.0.1", show=True, doc="the address to listen on")
    port = State(int, 0, ge=0, le=65535, show=True, doc="the UDP port (0: any free port)")
    format = State(UdpFormat, "text", doc="text (UTF-8), base64 or json")
    queueSize = State(int, 256, ge=1, le=MAX_UDP_QUEUE,
                      doc="datagrams that may wait for a pass; past it the oldest are dropped")
    boundPort = State(int, 0, access="ro", show=True, doc="the port listened on (0: none)")
    dropped = State(int, 0, access="ro", doc="datagrams dropped because passes fell behind")
    malformed = State(int, 0, access="ro", doc="datagrams that did not decode")

    def on_create(self) -> None:
        self._gate = ActiveGate()
        self._value: Any = None
        self._sender = ""

    def on_activate(self) -> None:
        self._gate.set_active(True)

    def on_deactivate(self) -> None:
        self._gate.set_active(False)

    def on_state(self, name: str, value: object) -> None:
        if name in ("host", "port", "format", "queueSize"):
            self._gate.restart()

    def compute(self, inputs: Inputs) -> dict[str, Any]:
        return {"value": self._value, "sender": self._sender}

    async def run_source(self, ctx: SourceContext) -> None:
        await run_while_active(self._gate, ctx, lambda: self._session(ctx))

    async def _session(self, ctx: SourceContext) -> None:
        fmt, proto = self.format, _Datagrams(self.queueSize)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: proto, local_addr=(self.host, self.port))
        dropped_before = self.dropped
        try:
            self.boundPort = int(transport.get_extra_info("sockname")[1])
            while True:
                while not proto.queue:
                    proto.ready.clear()
                    await proto.ready.wait()
                data, addr = proto.queue.popleft()
                if dropped_before + proto.dropped != self.dropped:
                    self.dropped = dropped_before + proto.dropped
                try:
                    value = datagram_value(data, fmt)
                except ValueError:
                    self.malformed = self.malformed + 1
                    continue
                self._value, self._sender = value, f"{addr[0]}:{addr[1]}"
                await ctx.trigger("received")
        finally:
            transport.close()
            self.boundPort = 0


class UdpOut(Operator):
    """On exec, sends value as one UDP datagram to host:port, then continues: as text (a
    string as is, anything else as JSON), the bytes of a base64 string (base64), or JSON.
    A value that cannot be sent (too large, not base64) is recorded on the node."""

    class_name = "bridge.udp_out"
    label = "UDP Out"
    category = "bridges"
    in_ = ExecIn(name="in")
    out = ExecOut(doc="fires after the datagram is sent")
    value = DataIn(Any, None, doc="what to send")
    host = State(Host, "127.0.0.1", show=True, doc="where to send")
    port = State(int, 9999, ge=1, le=65535, show=True, doc="the UDP port to send to")
    format = State(UdpFormat, "text", doc="text, base64 or json")

    def on_create(self) -> None:
        self._socket: asyncio.DatagramTransport | None = None
        self._to: tuple[str, int] = ("", 0)

    def on_destroy(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        data = datagram_bytes(ctx.input("value"), self.format)
        to = (self.host, self.port)
        if self._socket is None or self._to != to or self._socket.is_closing():
            self.on_destroy()
            self._socket, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=to)
            self._to = to
        self._socket.sendto(data)
        return "out"


def check_url(url: str) -> str:
    """``url`` if it is an http or https URL with a host, at most 2048 characters."""
    if len(url) > 2048:
        raise ValueError(f"url is {len(url)} characters, more than 2048")
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"url {url!r} is not a URL: {exc}") from None
    if any(c.isspace() for c in url):
        raise ValueError(f"url {url!r} holds whitespace")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"url {url!r} must be http:// or https:// with a host")
    return url


Url = Annotated[str, AfterValidator(lambda u: u and check_url(u))]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
MAX_HEADERS = 64


def request_parts(body: Any, headers: Any) -> tuple[bytes | None, dict[str, str]]:
    """The body bytes (a string as UTF-8, anything else but None as JSON, with a JSON
    content type unless one is given) and the headers (a dict of strings, or None)."""
    if headers is None:
        headers = {}
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError("headers must be an object of strings")
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"{len(headers)} headers, more than {MAX_HEADERS}")
    out = dict(headers)
    if body is None:
        return None, out
    if isinstance(body, str):
        return body.encode(), out
    if not any(k.lower() == "content-type" for k in out):
        out["Content-Type"] = "application/json"
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode(), out


class HttpRequest(Operator):
    """On exec, sends an HTTP request and waits for the answer without holding up the
    service: done fires when a response came (any status), failed when none did (timeout,
    refused connection, bad headers); then the pass goes on from there.

    The request goes to url with method, the headers input (an object of strings) and the
    body input (a string as is, anything else as JSON). status, body and error hold the
    outcome during the rest of the pass: status 0 and error set when no response came. The
    whole request may take timeoutMs. A response body longer than maxBodyBytes is cut there
    (error says so); it is read as UTF-8."""

    class_name = "bridge.http_request"
    label = "HTTP Request"
    category = "bridges"
    in_ = ExecIn(name="in")
    done = ExecOut(doc="fires when a response came, whatever its status")
    failed = ExecOut(doc="fires when no response came")
    body = DataIn(Any, None, doc="the request body (None: none)")
    headers = DataIn(Any, None, doc="request headers, an object of strings")
    status = DataOut(int, doc="the response status (0: none)")
    response = DataOut(str, doc="the response body, as text")
    error = DataOut(str, doc="why no response came, or that the body was cut")
    url = State(Url, "", show=True, doc="http:// or https:// URL")
    method = State(Method, "GET", show=True, doc="the HTTP method")
    timeoutMs = State(int, 5000, ge=1, le=60_000, doc="how long the whole request may take")
    maxBodyBytes = State(int, 1_048_576, ge=1, le=16 * 1_048_576,
                         doc="the most response bytes kept")

    def on_create(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._outcome: dict[str, Any] = {"status": 0, "response": "", "error": ""}

    async def on_destroy(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def compute(self, inputs: Inputs) -> dict[str, Any]:
        return self._outcome

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        import httpx

        url = self.url
        if not url:
            raise ValueError("set url first: HTTP Request has nowhere to send")
        if self._client is None:
            self._client = httpx.AsyncClient()
        timeout_s, limit = self.timeoutMs / 1000, self.maxBodyBytes
        try:
            content, headers = request_parts(ctx.input("body"), ctx.input("headers"))
            async with asyncio.timeout(timeout_s), self._client.stream(
                    self.method, url, content=content, headers=headers,
                    timeout=timeout_s) as answer:
                kept, cut = bytearray(), False
                async for chunk in answer.aiter_bytes():
                    room = limit - len(kept)
                    kept += chunk[:room]
                    if len(chunk) > room:
                        cut = True
                        break
                status = answer.status_code
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
                error = f"no response within {self.timeoutMs} ms"
            else:
                error = f"{type(exc).__name__}: {exc}"[:500]
            self._outcome = {"status": 0, "response": "", "error": error}
            return "failed"
        self._outcome = {"status": status, "response": kept.decode("utf-8", "replace"),
                         "error": f"response body cut at {limit} bytes" if cut else ""}
        return "done"
