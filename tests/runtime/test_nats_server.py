"""The local nats-server runner: start/stop, readiness, reuse, persistence across restarts."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from runtime.nats_server import (
    NatsServer,
    NatsServerError,
    default_store_dir,
    ensure_server,
    find_nats_server,
    server_answers,
)
from runtime.transport.base import KeyValue, KVEntry, TransportError
from runtime.transport.nats import connect
from tests.nats_fixtures import eventually, nats_server, nats_url  # noqa: F401

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections but never says INFO."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(sock.accept()[0])
        except OSError:
            pass  # closed at teardown

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    sock.close()
    for conn in accepted:
        conn.close()


def test_find_nats_server_finds_the_bundled_binary() -> None:
    assert Path(find_nats_server()).name.startswith("nats-server")


def test_default_store_dir_is_under_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))

    assert default_store_dir() == tmp_path / "rungraph" / "nats"


def test_default_store_dir_falls_back_to_local_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)

    assert default_store_dir() == Path.home() / ".local" / "share" / "rungraph" / "nats"


def test_start_gives_a_url_that_answers_and_stop_ends_the_process(tmp_path: Path) -> None:
    server = NatsServer(store_dir=tmp_path).start()
    pid, url = server.pid, server.url
    try:
        assert url.startswith("nats://127.0.0.1:")
        assert server_answers(url)
        assert psutil.pid_exists(pid)
    finally:
        server.stop()

    assert not server.running
    assert not server_answers(url)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (tmp_path / "nats-server.log").exists()


def test_the_context_manager_starts_on_the_given_port_and_stops(tmp_path: Path) -> None:
    port = free_port()

    with NatsServer(port=port, store_dir=tmp_path) as server:
        assert port_of(server.url) == port
        assert server_answers(server.url)

    assert not server_answers(f"nats://127.0.0.1:{port}")


def test_start_fails_with_the_servers_own_words_when_the_port_is_taken(
    nats_server: NatsServer,
    tmp_path: Path,
) -> None:
    second = NatsServer(port=port_of(nats_server.url), store_dir=tmp_path / "second")

    with pytest.raises(NatsServerError, match="exited with code") as failure:
        second.start()

    assert "address already in use" in str(failure.value).lower()
    assert not second.running


def test_server_answers_is_true_for_a_running_server(nats_url: str) -> None:
    assert server_answers(nats_url)


def test_server_answers_is_false_where_nothing_listens() -> None:
    assert not server_answers(f"nats://127.0.0.1:{free_port()}")


def test_server_answers_is_false_for_a_listener_that_is_not_nats(silent_listener: int) -> None:
    assert not server_answers(f"nats://127.0.0.1:{silent_listener}", timeout=0.2)


def test_ensure_server_reuses_a_running_server(nats_url: str, tmp_path: Path) -> None:
    url, started = ensure_server(nats_url, tmp_path / "unused")

    assert (url, started) == (nats_url, None)
    assert not (tmp_path / "unused").exists()


def test_ensure_server_starts_one_on_the_port_of_the_url(tmp_path: Path) -> None:
    port = free_port()

    url, started = ensure_server(f"nats://127.0.0.1:{port}", tmp_path)

    assert started is not None
    try:
        assert port_of(url) == port
        assert server_answers(url)
    finally:
        started.stop()


def test_ensure_server_without_a_url_starts_one_on_a_free_port(tmp_path: Path) -> None:
    url, started = ensure_server(None, tmp_path)

    assert started is not None
    try:
        assert server_answers(url)
    finally:
        started.stop()


def test_ensure_server_does_not_stand_in_for_another_machine(tmp_path: Path) -> None:
    with pytest.raises(NatsServerError, match="not this machine"):
        ensure_server("nats://192.0.2.1:4222", tmp_path)  # TEST-NET-1: never answers


async def test_restarting_with_the_same_store_keeps_kv_data(tmp_path: Path) -> None:
    with NatsServer(store_dir=tmp_path) as server:
        transport = await connect(server.url)
        revision = await (await transport.key_value("svc_cam1")).put("rungraph", b'{"n": 1}')
        await transport.close()

    with NatsServer(store_dir=tmp_path) as server:
        transport = await connect(server.url)
        entry = await (await transport.key_value("svc_cam1", create=False)).get("rungraph")
        await transport.close()

    assert entry is not None
    assert (entry.value, entry.revision) == (b'{"n": 1}', revision)


async def put_when_jetstream_is_back(kv: KeyValue, key: str, value: bytes) -> None:
    for _ in range(20):
        try:
            await kv.put(key, value)
            return
        except TransportError:  # the client may not have noticed the restart yet
            await asyncio.sleep(0.25)
    await kv.put(key, value)


async def test_a_kv_watch_resumes_when_the_server_comes_back(tmp_path: Path) -> None:
    server = NatsServer(store_dir=tmp_path).start()
    port = port_of(server.url)
    writer = await connect(server.url, name="writer")
    watcher = await connect(server.url, name="watcher")
    try:
        kv = await writer.key_value("svc_cam1")
        await kv.put("nodes.n1.state.gain", b"1")
        got: list[KVEntry] = []
        await (await watcher.key_value("svc_cam1")).watch("nodes.>", got.append)
        await eventually(lambda: len(got) == 1, what="the replayed value")

        server.stop()
        await eventually(
            lambda: not (writer.is_connected or watcher.is_connected), 10, "the clients to notice"
        )
        server = NatsServer(port=port, store_dir=tmp_path).start()
        await eventually(lambda: writer.is_connected and watcher.is_connected, 10, "reconnects")
        await put_when_jetstream_is_back(kv, "nodes.n1.state.gain", b"2")

        await eventually(lambda: len(got) >= 2, 10, what="the put after the restart")
        assert [(e.value, e.op) for e in got] == [(b"1", "PUT"), (b"2", "PUT")]
    finally:
        await writer.close()
        await watcher.close()
        server.stop()


async def test_connect_gives_up_with_a_clear_error_when_nobody_answers() -> None:
    url = f"nats://127.0.0.1:{free_port()}"

    with pytest.raises(TransportError, match="NATS not reachable at") as failure:
        await connect(url, connect_timeout_s=0.5)

    assert url in str(failure.value)
