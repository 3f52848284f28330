"""The identity directory over the in-memory transport: write, look up, watch, sync."""

from __future__ import annotations

from runtime.auth import DIRECTORY_BUCKET, Identity, IdentityCache, Role, lookup
from runtime.auth.directory import (
    decode_entry,
    encode_entry,
    publish_identity,
    sync_directory,
    unpublish_identity,
)
from runtime.transport.memory import MemoryHub
from tests.support import eventually


def identity(name: str, role: Role = Role.viewer, service_id: str | None = None) -> Identity:
    return Identity(name, role, "default", service_id, f"U{name.upper()}", "2025-01-01T00:00:00Z")


def test_an_entry_is_the_public_facts_without_the_key() -> None:
    s1 = identity("s1", Role.service, "s1")
    assert encode_entry(s1) == (b'{"issuedAt": "2025-01-01T00:00:00Z", "name": "s1", '
                                b'"namespace": "default", "role": "service", "serviceId": "s1"}')
    assert decode_entry("US1", encode_entry(s1)) == s1


def test_an_unreadable_entry_is_nobody() -> None:
    assert decode_entry("UX", b"not json") is None
    assert decode_entry("UX", b'{"name": "x"}') is None
    assert decode_entry("UX", b"[]") is None
    assert decode_entry("UX", None) is None


async def test_lookup_finds_a_published_identity_and_not_a_revoked_one() -> None:
    hub = MemoryHub("dir")
    keeper, reader = hub.connect(), hub.connect()
    alice = identity("alice")
    await publish_identity(keeper, alice)
    assert await lookup(reader, alice.public_key) == alice
    await unpublish_identity(keeper, alice.public_key)
    assert await lookup(reader, alice.public_key) is None


async def test_lookup_without_a_directory_is_nobody() -> None:
    assert await lookup(MemoryHub("empty").connect(), "UALICE") is None


async def test_the_keeper_has_no_entry() -> None:
    hub = MemoryHub("dir")
    await publish_identity(hub.connect(), identity("keeper", Role.keeper))
    bucket = await hub.connect().key_value(DIRECTORY_BUCKET)
    assert await bucket.keys() == []


async def test_the_cache_follows_issues_and_revokes() -> None:
    hub = MemoryHub("dir")
    keeper = hub.connect()
    alice, bob = identity("alice"), identity("bob", Role.operator)
    await publish_identity(keeper, alice)
    cache = await IdentityCache.start(hub.connect())
    heard: list[tuple[str, Identity | None]] = []
    cache.add_listener(lambda key, who: heard.append((key, who)))
    await eventually(lambda: cache.get(alice.public_key) == alice, what="alice in the cache")
    await publish_identity(keeper, bob)
    await eventually(lambda: cache.get(bob.public_key) == bob, what="bob in the cache")
    await unpublish_identity(keeper, alice.public_key)
    await eventually(lambda: cache.get(alice.public_key) is None, what="alice gone")
    assert heard[-2:] == [(bob.public_key, bob), (alice.public_key, None)]
    assert cache.identities() == [bob]
    await cache.stop()


async def test_resolve_reads_the_bucket_on_a_miss() -> None:
    hub = MemoryHub("dir")
    keeper = hub.connect()
    await publish_identity(keeper, identity("alice"))
    cache = await IdentityCache.start(hub.connect())
    await cache.stop()  # no more updates: only resolve can learn of carol
    carol = identity("carol", Role.admin)
    await publish_identity(keeper, carol)
    assert cache.get(carol.public_key) is None
    assert await cache.resolve(carol.public_key) == carol
    assert await cache.resolve("UNOBODY") is None


async def test_sync_leaves_exactly_the_given_identities() -> None:
    hub = MemoryHub("dir")
    keeper = hub.connect()
    stale, kept = identity("stale"), identity("kept")
    await publish_identity(keeper, stale)
    await publish_identity(keeper, kept)
    added = identity("added", Role.service, "s1")
    assert await sync_directory(keeper, [kept, added, identity("keeper", Role.keeper)]) == 2
    bucket = await keeper.key_value(DIRECTORY_BUCKET)
    assert sorted(await bucket.keys()) == sorted([kept.public_key, added.public_key])
    assert await sync_directory(keeper, [kept, added]) == 0


async def test_entering_a_service_identity_makes_its_bucket() -> None:
    hub = MemoryHub("dir")
    keeper = hub.connect()
    assert await publish_identity(keeper, identity("cam", Role.service, "cam1"))
    assert "svc_cam1" in hub.buckets
    assert await publish_identity(keeper, identity("val")) is True
    assert sorted(hub.buckets) == ["rungraph_identities", "svc_cam1"]  # a person has none


async def test_entering_an_identity_twice_writes_its_entry_once() -> None:
    hub = MemoryHub("dir")
    keeper = hub.connect()
    alice = identity("alice")
    assert await publish_identity(keeper, alice) is True
    bucket = await keeper.key_value(DIRECTORY_BUCKET)
    entry = await bucket.get(alice.public_key)
    assert await publish_identity(keeper, alice) is False
    again = await bucket.get(alice.public_key)
    assert entry is not None
    assert again is not None
    assert again.revision == entry.revision


async def test_sync_makes_every_service_identitys_bucket() -> None:
    hub = MemoryHub("dir")
    await sync_directory(hub.connect(), [identity("s1", Role.service, "s1"),
                                         identity("s2", Role.service, "s2"), identity("val")])
    assert sorted(hub.buckets) == ["rungraph_identities", "svc_s1", "svc_s2"]
