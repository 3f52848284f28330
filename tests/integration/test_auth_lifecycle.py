"""The life of identities on a running nats-server: revoking closes a connection and nothing else,
a server reloads for identities issued after it started, the identity directory follows the
store, and ``ensure_server`` is secure unless told otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client as NATS

from runtime.auth import AuthStore, Role, lookup
from runtime.auth.keys import new_user_seed
from runtime.auth.server_process import admits, wait_admission
from runtime.client.directory import issue_identity, revoke_identity, sync_directory_from_store
from runtime.nats_server import NatsServer, ensure_server
from runtime.transport.nats import connect as transport_connect
from tests.integration.auth_support import (  # noqa: F401 - fixtures
    WAIT,
    Secured,
    connect_as,
    conns,
    k,
    listen,
    passes,
    publish_violation,
    secured,
)

pytestmark = pytest.mark.integration


# -- revoking ---------------------------------------------------------------------------------


async def test_revoking_one_identity_closes_its_connection_and_leaves_the_others(
    secured: Secured, conns: list[NATS]
) -> None:
    bob = secured.store.issue(Role.viewer, "bob")
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    bob_conn = await connect_as(secured, bob, conns, closed_cb=on_closed)
    olga = await connect_as(secured, secured.ids["operator"], conns)
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    heard = await listen(s1, "svc.s1.>")
    bob_seed = secured.store.seed_path(bob).read_text()
    secured.store.revoke("bob")
    await asyncio.wait_for(closed.wait(), WAIT)
    assert bob_conn.is_closed
    assert admits(secured.url, bob_seed) is False
    me = k(secured, "operator")
    assert await passes(olga, f"svc.s1.activate.{me}", heard, f"svc.s1.cmd.{me}")


async def test_a_running_server_admits_an_identity_issued_after_it_started(
    secured: Secured, conns: list[NATS]
) -> None:
    late = secured.store.issue(Role.admin, "late", "newspace")  # a new account, too
    nc = await connect_as(secured, late, conns)
    info = await nc.jetstream().account_info()  # JetStream is on in the new account
    assert info.streams == 0


# -- the identity directory -------------------------------------------------------------------


async def test_issuing_writes_the_directory_and_revoking_deletes_the_entry(
    secured: Secured,
) -> None:
    await sync_directory_from_store(secured.url, secured.store)
    reader = await transport_connect(secured.url, nkeys_seed=secured.store.seed_path(
        secured.ids["s1"]))
    try:
        assert await lookup(reader, k(secured, "viewer")) == secured.ids["viewer"]
        eve, written = await issue_identity(secured.store, Role.operator, "eve")
        assert written
        assert await lookup(reader, eve.public_key) == eve
        _, deleted = await revoke_identity(secured.store, "eve")
        assert deleted
        assert await lookup(reader, eve.public_key) is None
    finally:
        await reader.close()


@pytest.mark.parametrize("who", ["admin", "s1"])
async def test_only_the_keeper_writes_the_directory(
    secured: Secured, conns: list[NATS], who: str
) -> None:
    await sync_directory_from_store(secured.url, secured.store)
    errors: list[str] = []
    nc = await connect_as(secured, secured.ids[who], conns, errors)
    bucket = await nc.jetstream(timeout=1.0).key_value("rungraph_identities")
    with pytest.raises(nats.errors.TimeoutError):
        await bucket.put(k(secured, who), b'{"role": "admin"}')
    await nc.flush()
    assert publish_violation(errors, f"$KV.rungraph_identities.{k(secured, who)}")


# -- ensure_server ----------------------------------------------------------------------------


async def test_ensure_server_is_secure_by_default_and_writes_the_directory(
    tmp_path: Path,
) -> None:
    store = AuthStore.open(tmp_path / "nats")
    early = store.issue(Role.operator, "early", "lab")  # issued while no server ran
    url, server = ensure_server(None, tmp_path / "nats")
    assert server is not None
    try:
        assert server.auth is not None
        assert store.server() is not None
        admin = store.ensure_admin()
        assert admits(url, store.seed_path(admin).read_text()) is True
        assert admits(url, new_user_seed()) is False
        reader = await transport_connect(url, nkeys_seed=store.seed_path(early))
        try:
            assert await lookup(reader, early.public_key) == early
        finally:
            await reader.close()
    finally:
        server.stop()
    assert store.server() is None


def test_ensure_server_without_auth_is_open_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, server = ensure_server(None, tmp_path / "nats", auth=False)
    assert server is not None
    try:
        assert "WARNING: nats-server is OPEN" in capsys.readouterr().err
        assert not AuthStore.exists(tmp_path / "nats")
    finally:
        server.stop()


# -- reloading --------------------------------------------------------------------------------


def test_reload_keeps_the_server_running_with_the_store_as_it_is(secured: Secured) -> None:
    from runtime.nats_server import reload_server

    admin_seed = secured.store.seed_path(secured.ids["admin"]).read_text()
    secured.server.reload()
    assert reload_server(secured.store.store_dir) is True
    assert secured.server.running
    # a connection made while the server reloads may be refused for a moment, so wait
    assert wait_admission(secured.url, admin_seed, admitted=True)


def test_reload_server_finds_nothing_to_reload_without_a_secured_server(tmp_path: Path) -> None:
    from runtime.nats_server import NatsServerError, reload_server

    assert reload_server(tmp_path / "none") is False
    with pytest.raises(NatsServerError, match="not running"):
        NatsServer(store_dir=tmp_path / "idle").reload()


async def test_connect_waits_out_a_reload_for_an_identity_it_admits(
    secured: Secured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Right after a reload the server may refuse a valid identity for a moment: connect keeps
    trying a refused identity for a short while. Here the identity is issued (and the server
    reloaded) only after connect was first refused."""
    import runtime.auth.store as store_module
    from runtime.auth.keys import public_key, write_private
    from tests.support import eventually

    seed = new_user_seed()
    seed_file = tmp_path / "late.nk"
    write_private(seed_file, seed + "\n")
    caplog.set_level(logging.INFO, logger="runtime.transport.nats")
    connecting = asyncio.ensure_future(transport_connect(secured.url, nkeys_seed=seed_file,
                                                         connect_timeout_s=5.0))
    await eventually(lambda: connecting.done() or any(
        getattr(r, "refused_identity", None) == public_key(seed) for r in caplog.records),
        what="a first refusal")
    assert not connecting.done(), "connect gave up at the first refusal"
    monkeypatch.setattr(store_module, "new_user_seed", lambda: seed)
    await asyncio.to_thread(secured.store.issue, Role.viewer, "late")

    transport = await asyncio.wait_for(connecting, WAIT)
    try:
        assert transport.public_key == public_key(seed)
    finally:
        await transport.close()


async def test_connect_gives_up_on_an_identity_the_server_keeps_refusing(
    secured: Secured, tmp_path: Path
) -> None:
    from runtime.auth.keys import write_private
    from runtime.transport.base import NotAuthorized

    seed_file = tmp_path / "stranger.nk"
    write_private(seed_file, new_user_seed() + "\n")
    with pytest.raises(NotAuthorized, match="refused the identity"):
        await asyncio.wait_for(transport_connect(secured.url, nkeys_seed=seed_file,
                                                 connect_timeout_s=30.0), WAIT)


async def test_the_services_of_a_graph_are_issued_with_one_reload_and_their_buckets_made(
    secured: Secured,
) -> None:
    """What ``rungraph serve`` does before it launches the processes of a graph."""
    from runtime.client.credentials import find_services_credentials

    def reloads() -> int:
        return secured.server.log_path.read_text().count("Reloaded server configuration")

    before = reloads()
    seeds = await asyncio.to_thread(find_services_credentials, ["cam", "arm", "cam"],
                                    "default", secured.store.store_dir, secured.url)

    assert seeds is not None
    assert sorted(seeds) == ["arm", "cam"]
    assert reloads() == before + 1
    for sid in ("cam", "arm"):
        reader = await transport_connect(secured.url, nkeys_seed=seeds[sid])
        try:
            assert reader.public_key is not None
            assert (await lookup(reader, reader.public_key)) is not None  # in the directory
            await reader.key_value(f"svc_{sid}", create=False)  # the keeper made it
        finally:
            await reader.close()
