"""Shared by the auth integration tests: a nats-server running with an auth store that holds one
identity of each role (entered in the identity directory, the services' KV buckets made by the
keeper), plain nats-py connections as those identities, and a publish check.

A publish that must not pass is followed, on the same connection, by an allowed sentinel: the
subscriber sees the sentinel, so it would have seen the forbidden message had the server let it
through (one publisher's messages reach a subscriber in order).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from runtime.auth import AuthStore, Identity, Role
from runtime.nats_server import NatsServer, write_identity_directory

__all__ = ["WAIT", "Listener", "Secured", "conns", "connect_as", "k", "listen", "passes",
           "publish_violation", "secured", "settle"]

WAIT = 10.0  # a bound on waiting for something that must happen, never a measure


@dataclass
class Secured:
    store: AuthStore
    server: NatsServer
    ids: dict[str, Identity] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    store = AuthStore.open(tmp_path / "nats")
    ids = {
        "viewer": store.issue(Role.viewer, "val"),
        "operator": store.issue(Role.operator, "olga"),
        "admin": store.ensure_admin(),
        "s1": store.ensure_service("default", "s1"),
        "s2": store.ensure_service("default", "s2"),
        "keeper": store.keeper(),
    }
    server = NatsServer(store_dir=store.store_dir, auth=store).start()
    # as ensure_server does: the keeper enters every identity and makes the services' buckets
    assert write_identity_directory(server.url, store)
    try:
        yield Secured(store, server, ids)
    finally:
        server.stop()


@pytest.fixture
async def conns() -> AsyncIterator[list[NATS]]:
    opened: list[NATS] = []
    yield opened
    for nc in opened:
        if not nc.is_closed:
            await nc.close()


async def connect_as(
    env: Secured, who: Identity, opened: list[NATS], errors: list[str] | None = None,
    **opts: Any,
) -> NATS:
    """A plain nats-py connection as ``who``; the server's errors (permission violations) are
    appended to ``errors``."""
    async def on_error(exc: Exception) -> None:
        if errors is not None:
            errors.append(str(exc).lower())

    nc = await nats.connect(
        env.url, nkeys_seed=str(env.store.seed_path(who)),
        inbox_prefix=f"_INBOX.{who.public_key}", allow_reconnect=False, error_cb=on_error,
        **opts,
    )  # fmt: skip
    opened.append(nc)
    return nc


def publish_violation(errors: list[str], subject: str) -> bool:
    """Whether the server reported refusing a publish on ``subject`` (its -ERR names it)."""
    return any("violation for publish" in e and f'"{subject.lower()}"' in e for e in errors)


class Listener:
    """Payloads received on one subscription."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self._changed = asyncio.Event()

    async def on_msg(self, msg: Msg) -> None:
        self.payloads.append(msg.data)
        self._changed.set()

    async def wait_for(self, payload: bytes) -> None:
        async def seen() -> None:
            while payload not in self.payloads:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(seen(), WAIT)


async def settle(nc: NATS) -> None:
    """Make sure the server has what ``nc`` sent. nats-py 2.16's flush() writes its PING ahead
    of commands still queued for its flusher task (see runtime.transport.nats_connection and
    nats_direct), so push the queue out first."""
    await nc._flush_pending(force_flush=True)
    await nc.flush()


async def listen(nc: NATS, subject: str) -> Listener:
    listener = Listener()
    await nc.subscribe(subject, cb=listener.on_msg)
    await settle(nc)
    return listener


async def passes(pub: NATS, subject: str, listener: Listener, sentinel: str) -> bool:
    """Publish on ``subject``, then on the allowed ``sentinel``; whether the first got through."""
    payload, mark = uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode()
    await pub.publish(subject, payload)
    await pub.publish(sentinel, mark)
    await settle(pub)
    await listener.wait_for(mark)
    return payload in listener.payloads


def k(env: Secured, name: str) -> str:
    return env.ids[name].public_key
