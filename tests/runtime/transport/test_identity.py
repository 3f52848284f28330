"""A connection made with an nkey seed: its public key, its inboxes, and a seed file that is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.auth.keys import new_user_seed, public_key
from runtime.protocol import naming
from runtime.transport.base import TransportError, seed_public_key
from runtime.transport.memory import MemoryHub
from runtime.transport.nats import connect
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401


def seed_file(tmp_path: Path) -> tuple[Path, str]:
    seed = new_user_seed()
    path = tmp_path / "me.nk"
    path.write_text(seed + "\n")
    return path, public_key(seed)


def test_a_seed_file_gives_its_public_key(tmp_path: Path) -> None:
    path, key = seed_file(tmp_path)

    assert seed_public_key(path) == key


def test_a_file_without_a_seed_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-seed.nk"
    path.write_text("hello\n")

    with pytest.raises(TransportError, match="not-a-seed.nk holds no valid nkey seed"):
        seed_public_key(path)
    with pytest.raises(TransportError, match="cannot read"):
        seed_public_key(tmp_path / "missing.nk")


def test_a_memory_connection_is_the_identity_of_its_seed(tmp_path: Path) -> None:
    path, key = seed_file(tmp_path)

    conn = MemoryHub().connect(nkeys_seed=path)

    assert conn.public_key == key
    assert conn.new_inbox().startswith(naming.inbox_prefix(key) + ".")


@pytest.mark.integration
async def test_an_open_server_vouches_for_no_key_yet_inboxes_follow_the_seed(
        tmp_path: Path, nats_url: str) -> None:
    path, key = seed_file(tmp_path)

    conn = await connect(nats_url, name="seeded", nkeys_seed=path)
    try:
        reply_inbox = conn.new_inbox()
    finally:
        await conn.close()

    assert conn.public_key is None  # nothing was checked: calls go on the plain subjects
    assert reply_inbox.startswith(f"_INBOX.{key}.")


def test_identity_subjects_add_one_token_and_read_back() -> None:
    subject = naming.identity_subject(naming.cmd_subject("cam1"), "UKEY")

    assert subject == "svc.cam1.cmd.UKEY"
    assert naming.identity_pattern("svc.cam1.cmd") == "svc.cam1.cmd.*"
    assert naming.caller_key(subject, "svc.cam1.cmd") == "UKEY"
    assert naming.caller_key("svc.cam1.cmd", "svc.cam1.cmd") is None
    with pytest.raises(ValueError, match="not 'svc.cam1.cmd'"):
        naming.caller_key("svc.cam1.cmd.A.B", "svc.cam1.cmd")
