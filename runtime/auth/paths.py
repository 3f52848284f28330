"""Where a user's local nats-server and its auth store live on disk.

``<store>/`` is the server's folder (JetStream data, its log); ``<store>/auth/`` the auth store
(mode 0700): ``identities.json``, ``server.conf``, ``keys/<namespace>/<name>.nk`` and, while a
server runs with this store's configuration, its pid and ports files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

AUTH_DIR = "auth"
IDENTITIES_FILE = "identities.json"
SERVER_CONFIG_FILE = "server.conf"
KEYS_DIR = "keys"
SEED_SUFFIX = ".nk"
PID_FILE = "nats-server.pid"
"""Written by nats-server itself (``--pid``) when it runs with this store's configuration."""
LOCK_FILE = ".lock"
DIR_MODE = 0o700


def user_data_dir() -> Path:
    """Where a user's rungraph data lives: ``$XDG_DATA_HOME`` (``%LOCALAPPDATA%`` on Windows,
    else ``~/.local/share``) plus ``rungraph``."""
    base = os.environ.get("XDG_DATA_HOME")
    if not base and os.name == "nt":
        base = os.environ.get("LOCALAPPDATA")
    root = Path(base) if base else Path.home() / ".local" / "share"
    return root / "rungraph"


def default_store_dir() -> Path:
    """Where a user's local server keeps JetStream data: <data dir>/rungraph/nats."""
    return user_data_dir() / "nats"


@contextlib.contextmanager
def file_lock(path: Path, mode: int = 0o600) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created with ``mode``), shared by every process on
    this machine that locks the same file; released when the block ends."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def ports_file(directory: Path, pid: int) -> Path:
    """The file nats-server writes its listen URLs to (``--ports_file_dir directory``)."""
    return directory / f"nats-server_{pid}.ports"


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, with ``mode`` from the first byte on (the umask may
    take bits away from a new file, never add any: ``mode`` is set again before the rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
