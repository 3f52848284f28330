"""The nats-server that runs with an auth store's configuration, seen from any process on the
machine: find it (its pid file), make it reload (SIGHUP), and tell whether it admits a seed.

The admission probe speaks just enough of the NATS protocol on a plain socket (INFO, then
CONNECT signed with the seed, then PING) to learn whether the server answers PONG or -ERR; it is
how a reload is known to have taken effect without reading the server's log. A server that
requires TLS sends its INFO in the clear first (nats-server's default); the probe then goes on
over TLS, verifying the certificate with the store's CA (``runtime.auth.tls.probe_context``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from runtime.auth.keys import public_key, sign_nonce
from runtime.auth.paths import PID_FILE, ports_file
from runtime.auth.tls import TLSError, probe_context

log = logging.getLogger(__name__)

_MAX_LINE = 1 << 16


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A running nats-server: its pid and the URL it listens on (None if not known yet)."""

    pid: int
    url: str | None
    tls: ssl.SSLContext | None = None
    """What a probe verifies the server's certificate with, should it require TLS."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # somebody else's process: not a server of this user's store
    except OSError:
        return False
    return True


def _runs_config(pid: int, config_path: Path) -> bool:
    """Whether process ``pid`` is a nats-server running ``config_path`` (Linux: its cmdline;
    elsewhere the live pid plus its ports file must do)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return str(config_path).encode() in args and any(b"nats-server" in a for a in args[:1])


def find_server(auth_dir: Path, config_path: Path) -> ServerProcess | None:
    """The server whose pid file is in ``auth_dir`` and that runs ``config_path``, if any."""
    try:
        pid = int((auth_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    ports = ports_file(auth_dir, pid)
    if not _alive(pid) or not ports.exists() or not _runs_config(pid, config_path):
        return None
    url: str | None = None
    try:
        urls = json.loads(ports.read_text()).get("nats") or []
        url = str(urls[0]) if urls else None
    except (OSError, ValueError):
        url = None  # written half-way
    context: ssl.SSLContext | None = None
    if url is not None and url.startswith("tls://"):  # what nats-server writes when TLS is on
        try:
            context = probe_context(auth_dir.parent)
        except TLSError as exc:
            log.warning("cannot verify the TLS certificate of nats-server %d: %s", pid, exc)
    return ServerProcess(pid, url, context)


CLUSTER_FILE = "cluster.json"
"""Where ``rungraph nats --cluster`` records its nodes, in the store beside ``auth/``."""


def cluster_servers(store_dir: Path) -> list[ServerProcess]:
    """The live nodes of the cluster this store runs (``cluster.json``), first node first; []
    when none runs. Each runs its own ``node.conf``, which includes the store's auth config."""
    try:
        record = json.loads((store_dir / CLUSTER_FILE).read_text())
    except (OSError, ValueError):
        return []
    nodes = record.get("nodes") if isinstance(record, dict) else None
    found = []
    for node in nodes if isinstance(nodes, list) else []:
        pid = node.get("pid") if isinstance(node, dict) else None
        if type(pid) is not int or not _alive(pid) or not _is_nats_server(pid):
            continue
        url = node.get("clientUrl")
        found.append(ServerProcess(pid, url if isinstance(url, str) else None))
    return found


def _is_nats_server(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True
    try:
        first = cmdline.read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return b"nats-server" in first


def signal_reload(pid: int) -> None:
    """Ask nats-server ``pid`` to re-read its configuration (what ``--signal reload`` sends)."""
    if sys.platform == "win32":
        raise OSError("reloading nats-server by signal is not supported on Windows; restart it")
    os.kill(pid, signal.SIGHUP)


def _lines(sock: socket.socket) -> list[str]:
    data = b""
    while not data.endswith(b"\r\n") and len(data) < _MAX_LINE:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return [line for line in data.decode("utf-8", "replace").split("\r\n") if line]


def _signed_in(sock: socket.socket, info: dict[str, object], seed: str) -> bool:
    """CONNECT as the holder of ``seed`` (signing the INFO's nonce), PING: True on PONG."""
    connect = {
        "verbose": False,
        "pedantic": False,
        "nkey": public_key(seed),
        "sig": sign_nonce(seed, str(info.get("nonce", ""))),
        "protocol": 1,
        "name": "rungraph-auth-probe",
        "lang": "python",
        "version": "0",
    }
    sock.sendall(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
    while True:
        lines = _lines(sock)
        if not lines:
            return False  # closed without PONG: refused
        for line in lines:
            if line == "PONG":
                return True
            if line.startswith("-ERR"):
                return False


def admits(url: str, seed: str, timeout: float = 1.0,
           tls: ssl.SSLContext | None = None) -> bool | None:
    """Whether the server at ``url`` lets the holder of ``seed`` connect: True (PONG), False
    (-ERR or closed), None when it cannot be told (unreachable, no auth, or TLS required and
    no ``tls`` context to verify it with, or a certificate that fails it)."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.create_connection((host, parts.port or 4222), timeout=timeout) as plain:
            plain.settimeout(timeout)
            greeting = _lines(plain)
            if not greeting or not greeting[0].startswith("INFO "):
                return None
            info = json.loads(greeting[0][5:])
            if not info.get("auth_required"):
                return None  # an open server admits all
            if not info.get("tls_required"):
                return _signed_in(plain, info, seed)
            if tls is None:
                return None  # a signature is sent over a verified TLS link only
            with tls.wrap_socket(plain, server_hostname=host) as secure:
                return _signed_in(secure, info, seed)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return None


def wait_admission(url: str, seed: str, *, admitted: bool, timeout: float = 5.0,
                   tls: ssl.SSLContext | None = None) -> bool:
    """Probe until the server admits (or refuses) ``seed`` as wished; False if it did not
    within ``timeout`` seconds or cannot be told.

    While nats-server reloads it may refuse a valid identity for a moment, so a refusal counts
    only when the next probe is refused too; an admission is proof by itself.
    """
    deadline = time.monotonic() + timeout
    refusals = 0
    while True:
        answer = admits(url, seed, tls=tls)
        if answer is None:
            return False
        refusals = refusals + 1 if answer is False else 0
        if answer is admitted and (admitted or refusals >= 2):
            return True
        if time.monotonic() >= deadline:
            log.warning("nats-server at %s did not %s the identity within %ss after a reload",
                        url, "admit" if admitted else "refuse", timeout)
            return False
        time.sleep(0.02)
