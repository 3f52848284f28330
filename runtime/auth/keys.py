"""nkey pairs for rungraph identities: make one, keep its seed in a file only the user can read,
and tell the public key of a seed file.

A seed file holds one line, the user seed (``SU...``); nats-py takes it as
``nats.connect(url, nkeys_seed=FILE)`` and the ``nats`` CLI as ``nats --nkey FILE``. The public key
(``U...``) is what nats-server's configuration and the identity directory name.
"""

from __future__ import annotations

import base64
import importlib
import os
import secrets
from pathlib import Path
from typing import Any

from runtime.auth.paths import write_atomic

SEED_MODE = 0o600
"""Seeds and every file of the auth store: readable and writable by their owner only."""

# nkeys ships no type information; the few calls made on it are wrapped in typed functions here.
_nkeys: Any = importlib.import_module("nkeys")


class SeedError(ValueError):
    """A seed file that is missing, unreadable or holds no valid nkey user seed."""


def new_user_seed() -> str:
    """A fresh random nkey user seed (``SU...``)."""
    raw = secrets.token_bytes(32)
    seed: bytes = _nkeys.encode_seed(raw, _nkeys.PREFIX_BYTE_USER)
    return seed.decode("ascii")


def public_key(seed: str) -> str:
    """The user public key (``U...``) of a seed."""
    try:
        pair = _nkeys.from_seed(bytearray(seed.strip().encode("ascii")))
    except (_nkeys.NkeysError, ValueError) as exc:
        raise SeedError(f"not a valid nkey seed ({type(exc).__name__})") from None
    try:
        key: bytes = pair.public_key
    finally:
        pair.wipe()
    text = key.decode("ascii")
    if not text.startswith("U"):
        raise SeedError("the seed is an nkey, but not a user's (its public key must start with U)")
    return text


def load_seed(path: str | os.PathLike[str]) -> str:
    """The public key of the seed kept in the file ``path`` (a client deriving its identity)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"cannot read the nkey seed file {os.fspath(path)}: {exc}") from None
    try:
        return public_key(text)
    except SeedError as exc:
        raise SeedError(f"{os.fspath(path)}: {exc}") from None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, mode 0600 from the first byte on."""
    write_atomic(path, text.encode("utf-8"), SEED_MODE)


def sign_nonce(seed: str, nonce: str) -> str:
    """The signature nats-server asks of an nkey user at connect time (base64url, unpadded)."""
    pair = _nkeys.from_seed(bytearray(seed.strip().encode("ascii")))
    try:
        raw: bytes = pair.sign(nonce.encode("ascii"))
    finally:
        pair.wipe()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
