"""TLS against a real nats-server: ``--tls`` with the local CA of a tmp store (authentication
on), clients that verify it, and clients that cannot and are refused at once, saying why.

A "second machine" is a client whose seed file lies outside the store and whose default store
is an empty folder: it finds no CA by itself, as on a machine that holds no store.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.auth import AuthStore, Identity, Role
from runtime.auth.server_process import admits
from runtime.auth.tls import CA_ENV, ServerTLS, ensure_local_tls, given_tls
from runtime.client import Client
from runtime.nats_server import NatsServer, server_answers, server_info, write_identity_directory
from runtime.transport.nats import TLSRefused
from runtime.transport.nats import connect as nats_connect
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_readme_flow import five_commands, wait_for
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUNGRAPH = str(ROOT / ".venv" / "bin" / "rungraph")
REFUSED_WITHIN_S = 3.0  # a refusal comes at once; the connect timeouts below are far longer


@pytest.fixture(autouse=True)
def _elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This test process is a machine without a store of its own (an empty default store) and
    without $RUNGRAPH_TLS_CA or $RUNGRAPH_CREDS; service processes inherit that."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.delenv(CA_ENV, raising=False)
    monkeypatch.delenv("RUNGRAPH_CREDS", raising=False)


@dataclass
class TLSServer:
    store: AuthStore
    server: NatsServer
    tls: ServerTLS
    ids: dict[str, Identity]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca(self) -> Path:
        assert self.tls.ca is not None
        return self.tls.ca

    def seed(self, who: str) -> Path:
        return self.store.seed_path(self.ids[who])

    def carried(self, who: str, folder: Path) -> Path:
        """``who``'s seed file as handed to another machine (a copy outside the store)."""
        folder.mkdir(exist_ok=True)
        return Path(shutil.copy(self.seed(who), folder / f"{who}.nk"))


def start_tls_server(store_dir: Path, tls: ServerTLS | None = None) -> TLSServer:
    store = AuthStore.open(store_dir)
    ids = {"admin": store.ensure_admin(), "s1": store.ensure_service("default", "s1")}
    tls = tls or ensure_local_tls(store_dir)
    server = NatsServer(store_dir=store_dir, auth=store, tls=tls).start()
    assert write_identity_directory(server.url, store)  # the keeper, over TLS: buckets made
    return TLSServer(store, server, tls, ids)


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[TLSServer]:
    env = start_tls_server(tmp_path / "nats")
    try:
        yield env
    finally:
        env.server.stop()


async def test_the_server_requires_tls_and_says_so_before_the_handshake(
    secure: TLSServer,
) -> None:
    assert secure.url.startswith("tls://127.0.0.1:")
    info = server_info(secure.url)
    assert info is not None
    assert info["tls_required"]
    assert info["auth_required"]
    conf = secure.store.config_path.read_text()
    assert str(secure.tls.cert) in conf  # in server.conf, so that a reload keeps TLS on


async def test_a_client_with_the_ca_calls_a_service_over_tls(
    secure: TLSServer, spawn: Spawn, tmp_path: Path,
) -> None:
    away = tmp_path / "away"
    proc = spawn(secure.url, "s1", "rungraph.service",
                 "--creds", str(secure.carried("s1", away)), "--tls-ca", str(secure.ca))
    client = await Client.connect(secure.url, actor="test", connect_timeout_s=10.0,
                                  creds=secure.carried("admin", away), tls_ca=secure.ca)
    try:
        ssl_object = client.transport.nc._transport._io_writer.get_extra_info("ssl_object")
        assert ssl_object is not None
        assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
        await wait_ready(client, "s1")
        reply = await client.call("s1", "status")
        assert reply.ok
        assert reply.result["serviceId"] == "s1"
        deactivated = await client.call("s1", "deactivate")  # admin: an identity call
        assert deactivated.ok, deactivated.error
    finally:
        await client.close()
    assert proc.poll() is None  # still serving


async def test_a_client_on_the_store_machine_finds_the_ca_by_itself(secure: TLSServer) -> None:
    for url in (secure.url, secure.url.replace("tls://", "nats://")):
        # the admin seed lies in the store: that store's CA verifies the server
        transport = await nats_connect(url, connect_timeout_s=10.0,
                                       nkeys_seed=secure.seed("admin"))
        try:
            assert transport.public_key == secure.ids["admin"].public_key
        finally:
            await transport.close()


async def test_a_client_without_the_ca_is_refused_at_once(
    secure: TLSServer, tmp_path: Path,
) -> None:
    creds = secure.carried("admin", tmp_path / "away")
    for url in (secure.url, secure.url.replace("tls://", "nats://")):
        started = time.monotonic()
        with pytest.raises(TLSRefused) as refused:
            await Client.connect(url, connect_timeout_s=30.0, creds=creds)
        assert time.monotonic() - started < REFUSED_WITHIN_S
        message = str(refused.value)
        assert "not trusted" in message
        assert "--tls-ca" in message
        assert "system's trust store" in message


async def test_a_client_with_another_ca_is_refused_at_once(
    secure: TLSServer, tmp_path: Path,
) -> None:
    other_ca = ensure_local_tls(tmp_path / "other").ca
    assert other_ca is not None
    creds = secure.carried("admin", tmp_path / "away")
    started = time.monotonic()
    with pytest.raises(TLSRefused, match="not trusted") as refused:
        await Client.connect(secure.url, connect_timeout_s=30.0, creds=creds, tls_ca=other_ca)
    assert time.monotonic() - started < REFUSED_WITHIN_S
    assert str(other_ca) in str(refused.value)


async def test_a_host_name_the_certificate_does_not_hold_is_refused_at_once(
    secure: TLSServer,
) -> None:
    with pytest.raises(TLSRefused, match="not valid for elsewhere.lan") as refused:
        await nats_connect(secure.url, connect_timeout_s=30.0, tls_ca=secure.ca,
                           nkeys_seed=secure.seed("admin"), tls_hostname="elsewhere.lan")
    assert "--tls-host elsewhere.lan" in str(refused.value)


async def test_a_tls_url_or_a_ca_is_refused_by_a_server_without_tls(
    nats_url: str, tmp_path: Path,
) -> None:
    ca = ensure_local_tls(tmp_path / "ca").ca
    assert ca is not None
    port = nats_url.rsplit(":", 1)[1]
    for url, tls_ca in ((f"tls://127.0.0.1:{port}", None), (nats_url, ca)):
        started = time.monotonic()
        with pytest.raises(TLSRefused, match="does not offer TLS"):
            await nats_connect(url, connect_timeout_s=30.0, tls_ca=tls_ca)
        assert time.monotonic() - started < REFUSED_WITHIN_S
    plain = await nats_connect(nats_url, connect_timeout_s=5.0)  # without: as before
    await plain.close()


async def test_issuing_and_revoking_reload_a_tls_server_and_probe_it_over_tls(
    secure: TLSServer,
) -> None:
    running = secure.store.server()
    assert running is not None
    assert running.url == secure.url
    assert running.tls is not None
    val = secure.store.issue(Role.viewer, "val")  # re-renders server.conf, reloads, probes
    seed = secure.store.seed_path(val).read_text()
    assert admits(secure.url, seed, tls=running.tls) is True
    assert admits(secure.url, seed) is None  # no signature goes out without verified TLS
    assert secure.store.reload_server(val, admitted=True)  # the probe, over TLS
    transport = await nats_connect(secure.url, connect_timeout_s=10.0,
                                   nkeys_seed=secure.store.seed_path(val))
    await transport.close()
    assert "tls = enabled" in secure.server.log_path.read_text()  # the reload kept TLS on

    secure.store.revoke("val")
    assert admits(secure.url, seed, tls=running.tls) is False


async def test_certificate_files_of_ones_own_verified_with_their_ca(tmp_path: Path) -> None:
    corp = ensure_local_tls(tmp_path / "corp")  # stands for a company CA and its certificate
    assert corp.ca is not None
    env = start_tls_server(tmp_path / "nats", given_tls(corp.cert, corp.key, corp.ca))
    try:
        # clients on this machine verify with the CA given with the certificate
        transport = await nats_connect(env.url, connect_timeout_s=10.0,
                                       nkeys_seed=env.seed("admin"))
        await transport.close()
        assert env.store.server() is not None
        val = env.store.issue(Role.viewer, "val")
        assert env.store.reload_server(val, admitted=True)
        with pytest.raises(TLSRefused, match="not trusted"):
            await nats_connect(env.url, connect_timeout_s=10.0,
                               nkeys_seed=env.carried("admin", tmp_path / "away"))
    finally:
        env.server.stop()


# -- the README's flow with --tls, as a user runs it -----------------------------------------------


def argv(line: str) -> list[str]:
    args = shlex.split(line.rstrip("&").strip())
    return [RUNGRAPH if a == ".venv/bin/rungraph" else a for a in args]


def test_the_readme_flow_with_tls_and_a_second_machine(tmp_path: Path) -> None:
    probe = NatsServer(store_dir=tmp_path / "probe").start()
    url = probe.url
    probe.stop()  # a free port for the user's server
    port = url.rsplit(":", 1)[1]
    env = {**os.environ, "RUNGRAPH_NATS": url, "XDG_DATA_HOME": str(tmp_path / "data")}
    work = tmp_path / "work"
    work.mkdir()

    def run(args: list[str], environ: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=work, env=environ, capture_output=True, text=True,
                              timeout=60)

    nats_line, service_line = five_commands()[:2]
    assert argv(nats_line)[1:] == ["nats"]
    background: list[subprocess.Popen[str]] = []
    try:
        server = subprocess.Popen([*argv(nats_line), "--tls"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        background.append(server)
        wait_for(lambda: server_answers(url), "NATS")
        info = server_info(url)
        assert info is not None
        assert info["tls_required"]
        background.append(subprocess.Popen(argv(service_line), cwd=ROOT, env=env,
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait_for(lambda: run([RUNGRAPH, "status", "main"]).returncode == 0, "the service")
        status = run([RUNGRAPH, "status", "main"])
        assert json.loads(status.stdout)["serviceId"] == "main"
        listed = run([RUNGRAPH, "ls", "--nats", f"tls://localhost:{port}"])
        assert listed.returncode == 0, listed.stderr
        assert "main" in listed.stdout

        # a second machine: a viewer's seed file and the CA file, copied; no store there
        issued = run([RUNGRAPH, "creds", "viewer", "--name", "far", "--out", "far.nk"])
        assert issued.returncode == 0, issued.stderr
        ca = tmp_path / "data" / "rungraph" / "nats" / "auth" / "tls" / "ca.pem"
        shutil.copy(ca, work / "ca.pem")
        far = {**env, "XDG_DATA_HOME": str(tmp_path / "far")}
        far.pop("RUNGRAPH_NATS")
        remote = ["--nats", f"tls://127.0.0.1:{port}", "--creds", "far.nk"]
        started = time.monotonic()
        refused = run([RUNGRAPH, "status", "main", *remote], far)
        assert refused.returncode == 3
        assert time.monotonic() - started < 10  # an interpreter start plus a refusal
        assert "not trusted" in refused.stderr
        assert "--tls-ca" in refused.stderr
        ok = run([RUNGRAPH, "status", "main", *remote, "--tls-ca", "ca.pem"], far)
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["serviceId"] == "main"
        by_env = run([RUNGRAPH, "status", "main", *remote], {**far, CA_ENV: "ca.pem"})
        assert by_env.returncode == 0, by_env.stderr
    finally:
        for proc in reversed(background):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is background[0] else signal.SIGTERM)
        for proc in background:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    out = server.stdout.read() if server.stdout else ""
    assert "TLS required" in out, out
    assert "--tls-ca ca.pem" in out, out


@pytest.mark.parametrize(("flags", "error"), [
    (["--tls-cert", "x.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-key", "x.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "x.pem", "--tls-key", "k.pem", "--tls-host", "h"], "already holds its hosts"),
    (["--tls", "--tls-ca", "ca.pem"], "--tls-ca names the CA of a certificate of your own"),
    (["--tls-cert", "missing.pem", "--tls-key", "k.pem"], "cannot read the certificate"),
    (["--tls-host", "bad host"], "neither an IP address nor a host name"),
])
def test_rungraph_nats_refuses_tls_flags_that_do_not_fit(tmp_path: Path, flags: list[str],
                                                          error: str) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "nats", "--url",
                           "nats://127.0.0.1:1", *flags], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert error in done.stderr
