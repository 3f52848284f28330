"""``rungraph creds``, ``revoke``, ``identities`` and ``nats``'s auth, run as their own processes
against a store folder, with and without a server of that store running."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.auth import AuthStore, lookup
from runtime.auth.keys import new_user_seed
from runtime.auth.server_process import admits
from runtime.client.directory import sync_directory_from_store
from runtime.nats_server import NatsServer
from runtime.transport.nats import connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[3]


def rungraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False, cwd=ROOT, env={**os.environ})


@pytest.fixture
def store(tmp_path: Path) -> AuthStore:
    return AuthStore.open(tmp_path / "nats")


@pytest.fixture
def running(store: AuthStore) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=store.store_dir, auth=store).start()
    try:
        yield server
    finally:
        server.stop()


def test_creds_writes_a_private_seed_file_of_a_new_identity(
    store: AuthStore, tmp_path: Path
) -> None:
    out = tmp_path / "alice.nk"
    done = rungraph("creds", "viewer", "--name", "alice", "--store", str(store.store_dir),
                    "--out", str(out))
    assert done.returncode == 0, done.stderr
    alice = store.find("alice")
    assert alice is not None
    assert alice.actor == "viewer:alice"
    assert out.read_text() == store.seed_path(alice).read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "nkeys_seed=" in done.stdout
    assert "no server of this store is running" in done.stdout


def test_creds_does_not_overwrite_a_file_unless_told(store: AuthStore, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.write_text("mine")
    done = rungraph("creds", "admin", "--store", str(store.store_dir), "--out", str(out))
    assert done.returncode == 2
    assert out.read_text() == "mine"


def test_creds_refuses_what_the_store_refuses(store: AuthStore, tmp_path: Path) -> None:
    done = rungraph("creds", "service", "--store", str(store.store_dir),
                    "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "needs a service id" in done.stderr


def test_identities_lists_the_store(store: AuthStore) -> None:
    store.ensure_service("lab", "cam1")
    done = rungraph("identities", "--store", str(store.store_dir), "--json")
    assert done.returncode == 0, done.stderr
    listed = {(i["namespace"], i["name"], i["role"]) for i in json.loads(done.stdout)}
    assert listed == {("default", "admin", "admin"), ("default", "keeper", "keeper"),
                      ("lab", "cam1", "service"), ("lab", "keeper", "keeper")}
    table = rungraph("identities", "--store", str(store.store_dir), "--namespace", "lab")
    assert "cam1" in table.stdout
    assert "admin" not in table.stdout.split("\n", 1)[1]


def test_revoke_and_identities_need_an_existing_store(tmp_path: Path) -> None:
    for args in (("revoke", "bob"), ("identities",)):
        done = rungraph(*args, "--store", str(tmp_path / "none"))
        assert done.returncode == 2
        assert "no auth store" in done.stderr
    assert not (tmp_path / "none").exists()


async def test_creds_and_revoke_take_effect_on_a_server_another_process_started(
    store: AuthStore, running: NatsServer, tmp_path: Path
) -> None:
    await sync_directory_from_store(running.url, store)
    out = tmp_path / "bob.nk"
    done = rungraph("creds", "operator", "--name", "bob", "--store", str(store.store_dir),
                    "--out", str(out))
    assert done.returncode == 0, done.stderr
    seed = out.read_text()
    assert admits(running.url, seed) is True
    reader = await connect(running.url, nkeys_seed=store.seed_path(store.ensure_admin()))
    try:
        bob = await lookup(reader, store.find("bob").public_key)  # type: ignore[union-attr]
        assert bob is not None
        assert bob.actor == "operator:bob"
        done = rungraph("revoke", "bob", "--store", str(store.store_dir))
        assert done.returncode == 0, done.stderr
        assert "closed its connections" in done.stdout
        assert admits(running.url, seed) is False
        assert await lookup(reader, bob.public_key) is None
    finally:
        await reader.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_nats(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", "nats", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ})


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)  # the command stops its server on SIGTERM
    out, err = proc.communicate(timeout=30)
    return out, err


async def test_rungraph_nats_starts_a_secured_server_and_writes_the_directory(
    tmp_path: Path,
) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    proc = start_nats("--url", url, "--store", str(tmp_path / "nats"))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "with authentication on" in first
        store = AuthStore.open(tmp_path / "nats")
        admin = store.ensure_admin()
        assert admits(url, new_user_seed()) is False
        assert admits(url, store.seed_path(admin).read_text()) is True
        reader = await connect(url, nkeys_seed=store.seed_path(admin))
        try:
            assert await lookup(reader, admin.public_key) == admin
        finally:
            await reader.close()
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_rungraph_nats_no_auth_is_open_and_warns_loudly(tmp_path: Path) -> None:
    port = free_port()
    proc = start_nats("--url", f"nats://127.0.0.1:{port}", "--store", str(tmp_path / "nats"),
                      "--no-auth")
    try:
        assert proc.stdout is not None
        assert "WITHOUT authentication" in proc.stdout.readline()
    finally:
        _, err = stop(proc)
    assert (f"WARNING: nats-server is OPEN: no authentication, anyone who can reach "
            f"127.0.0.1:{port} can deploy and run code") in err
    assert not AuthStore.exists(tmp_path / "nats")
