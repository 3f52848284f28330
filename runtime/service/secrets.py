"""Sealing write-only state: the key only its service holds, and the box that seals with it.

A write-only (``wo``) field's value never reaches KV in the clear: the bus seals it with a
``Sealer`` (XSalsa20-Poly1305, PyNaCl's ``SecretBox``) and KV keeps the ciphertext
(``runtime.protocol.values.encode_sealed``). The sealed text also names the node and field it
was sealed for, so a ciphertext copied onto another field does not open there.

Where the key comes from (``service_secret_key``):
- with authentication on, from the service identity's nkey seed: a keyed hash of the seed with a
  fixed context, so the key is as private as the identity and needs no file of its own;
- without (an open server), from a per-service key file ``<data dir>/rungraph/keys/<namespace>/
  <service_id>.key`` (mode 0600, made on first start), so an open service seals too and still
  opens its values after a restart;
- a bus given no key (a simulation, a test) seals with a random key of its own: its values last
  as long as the process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils

from runtime.auth.paths import user_data_dir
from runtime.protocol.values import Sealed

KEY_SIZE = nacl.secret.SecretBox.KEY_SIZE
_CONTEXT = b"rungraph-kv-seal"
"""Personalises the hash that turns an identity seed into a sealing key: the key is of no use as
anything else, and knowing it tells nothing of the seed."""
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class SealError(ValueError):
    """A sealed value this service cannot open: sealed with another key, for another field, or
    damaged."""


class SecretKeyError(ValueError):
    """A key file or seed file that holds no usable key."""


class Sealer:
    """Seals and opens write-only values with one service's key."""

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) != KEY_SIZE:
            raise SecretKeyError(f"a sealing key has {KEY_SIZE} bytes, not {len(key)}")
        self._box = nacl.secret.SecretBox(key if key is not None else nacl.utils.random(KEY_SIZE))

    def seal(self, node_id: str, field: str, value: Any) -> str:
        """The ciphertext (base64) of ``value`` for ``node_id``'s ``field``. A value that is
        already sealed stays as it is."""
        if isinstance(value, Sealed):
            return value.ciphertext
        plain = _encode([node_id, field, value]).encode()
        return base64.b64encode(self._box.encrypt(plain)).decode("ascii")

    def open(self, node_id: str, field: str, sealed: Sealed) -> Any:
        """The value ``sealed`` holds; ``SealError`` when this key did not seal it for this
        node's field."""
        try:
            plain = self._box.decrypt(base64.b64decode(sealed.ciphertext, validate=True))
        except (nacl.exceptions.CryptoError, binascii.Error, ValueError):
            raise SealError(f"state field {field!r} of node {node_id!r} was sealed with another "
                            "key (or is damaged): it cannot be opened") from None
        owner, name, value = json.loads(plain)
        if (owner, name) != (node_id, field):
            raise SealError(f"state field {field!r} of node {node_id!r} holds a value sealed for "
                            f"{owner}.{name}: it is not opened")
        return value


def key_from_seed(seed: bytes) -> bytes:
    """The sealing key of a service identity: a hash of its nkey seed with a fixed context."""
    return hashlib.blake2b(seed.strip(), digest_size=KEY_SIZE, person=_CONTEXT).digest()


def key_from_seed_file(path: str | Path) -> bytes:
    """The sealing key of the identity whose seed ``path`` holds: an nkey seed file (one line
    ``SU...``) or a ``.creds`` file (the seed is its line that starts with ``SU``)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the seed file {path}: {exc}") from None
    seed = next((line.strip() for line in text.splitlines() if line.strip().startswith("SU")),
                None)
    if seed is None:
        raise SecretKeyError(f"{path} holds no nkey user seed (a line starting with SU)")
    return key_from_seed(seed.encode("ascii"))


def key_file(namespace: str, service_id: str, keys_dir: Path | None = None) -> Path:
    """The key file of an open-mode service: ``<keys_dir>/<namespace>/<service_id>.key``, with
    ``keys_dir`` by default ``<data dir>/rungraph/keys``."""
    return (keys_dir or user_data_dir() / "keys") / namespace / f"{service_id}.key"


def load_or_create_key(path: Path) -> bytes:
    """The key ``path`` holds (base64, one line); a new random one, written there with mode
    0600, when the file does not exist. Two processes starting at once end up with one key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    for folder in (path.parent.parent, path.parent):  # the keys folder and its namespace's
        if not folder.is_dir():
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(base64.b64encode(nacl.utils.random(KEY_SIZE)).decode("ascii") + "\n")
        try:
            os.link(tmp, path)  # atomic, and refuses to replace a key another process wrote
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        key = base64.b64decode(text, validate=True)
    except binascii.Error:
        key = b""
    if len(key) != KEY_SIZE:
        raise SecretKeyError(f"{path} holds no sealing key ({KEY_SIZE} bytes, base64); "
                             "values sealed with the lost key cannot be opened again")
    return key


def service_secret_key(service_id: str, namespace: str = "default",
                       seed_file: str | Path | None = None,
                       keys_dir: Path | None = None) -> bytes:
    """The sealing key of one service process: from its identity's seed file when it runs with
    credentials, else from its key file (made on first start)."""
    if seed_file is not None:
        return key_from_seed_file(seed_file)
    return load_or_create_key(key_file(namespace, service_id, keys_dir))
