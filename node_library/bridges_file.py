"""File bridges: File Tail (an exec source per line appended to a file, across rotation and
truncation) and File Write (appends lines, rotating the file past a size)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from pydantic import AfterValidator

from node_library.bridges_source import ActiveGate, run_while_active
from runtime import (
    DataIn,
    DataOut,
    ExecContext,
    ExecIn,
    ExecOut,
    Inputs,
    Operator,
    SourceContext,
    State,
)

MAX_PATH = 4096
READ_CHUNK = 1_048_576
"""The most bytes File Tail reads in one poll (the rest waits for the next)."""
MAX_LINE = 1_048_576
"""The longest line File Write appends, in bytes."""


def check_path(path: str) -> str:
    """``path`` if it can name a file (empty: not set yet)."""
    if len(path) > MAX_PATH:
        raise ValueError(f"path is {len(path)} characters, more than {MAX_PATH}")
    if "\0" in path:
        raise ValueError("path holds a NUL character")
    if path and not path.strip():
        raise ValueError("path is only whitespace")
    return path


FilePath = Annotated[str, AfterValidator(check_path)]


def file_path(path: str, node: str) -> Path:
    """Where ``path`` points: as given when absolute, else under the service's working
    directory. Raises ValueError for an empty path."""
    if not path:
        raise ValueError(f"set path first: {node} has no file")
    return Path(path) if os.path.isabs(path) else Path.cwd() / path


class Follower:
    """Reads the lines appended to one file, poll by poll. A file that is replaced (a new
    inode: rotated) is read to its end, then the new one from its start; a file that got
    shorter (truncated) is read again from its start. A missing file is waited for. Lines
    are cut at ``max_line`` bytes (counted in ``cut``); ``reopened`` counts rotations and
    truncations."""

    def __init__(self, path: Path, max_line: int, from_start: bool = False) -> None:
        self.path, self.max_line, self.from_start = path, max_line, from_start
        self.file: BinaryIO | None = None
        self.ident: tuple[int, int] = (0, 0)
        self.partial = bytearray()
        self.overlong = False
        self.first = True
        self.cut = 0
        self.reopened = 0

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _open(self, at_end: bool) -> None:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return
        stat = os.fstat(file.fileno())
        self.file, self.ident = file, (stat.st_dev, stat.st_ino)
        if at_end:
            file.seek(0, os.SEEK_END)

    def poll(self) -> list[str]:
        """The complete lines appended since the last poll (at most ``READ_CHUNK`` bytes)."""
        if self.file is None:
            self._open(at_end=self.first and not self.from_start)
            self.first = False  # a file that appears later is read from its start
            if self.file is None:
                return []
        assert self.file is not None
        try:
            stat = self.path.stat()
            current: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            current = None
        data = self.file.read(READ_CHUNK)
        lines = self._split(data)
        if data:
            return lines
        if current is not None and current != self.ident:  # rotated: the old one is read
            self.close()
            self.reopened += 1
            self.partial.clear()
            self.overlong = False
            self._open(at_end=False)
        elif current is not None and stat.st_size < self.file.tell():  # truncated
            self.file.seek(0)
            self.reopened += 1
            self.partial.clear()
            self.overlong = False
        return lines

    def _split(self, data: bytes) -> list[str]:
        lines: list[str] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            room = self.max_line - len(self.partial)  # never below 0
            if len(piece) > room:
                self.overlong = True
            self.partial += piece[:room]
            if end < 0:
                return lines
            line = bytes(self.partial)
            if line.endswith(b"\r"):
                line = line[:-1]
            if self.overlong:
                self.cut += 1
            lines.append(line.decode("utf-8", "replace"))
            self.partial.clear()
            self.overlong = False
            start = end + 1


class FileTail(Operator):
    """Fires line once per line appended to the file at path, while its service is active
    (the file is closed when it is deactivated, and followed from its end again when it is
    activated; following says which).

    It follows the file across rotation (a new file at path is read from its start, after
    the old one's last lines) and truncation (read again from the start), and waits for a
    file that is missing. Only lines appended after it starts are read, unless fromStart
    (which reads the file from its start once per path, not again on each activation).
    A relative path is under the service's working directory. Lines longer than
    maxLineBytes are cut there (counted in cut); reopened counts rotations and truncations.
    The file is looked at every pollMs milliseconds."""

    class_name = "bridge.file_tail"
    label = "File Tail"
    category = "bridges"
    fired = ExecOut(doc="fires once per line")
    line = DataOut(str, doc="the line, without its line end")
    path = State(FilePath, "", show=True, doc="the file to follow")
    fromStart = State(bool, False, doc="read the lines the file already holds first")
    pollMs = State(int, 250, ge=10, le=60_000, doc="how often to look for new lines")
    maxLineBytes = State(int, 65536, ge=1, le=MAX_LINE, doc="longer lines are cut")
    cut = State(int, 0, access="ro", doc="lines cut at maxLineBytes")
    reopened = State(int, 0, access="ro", doc="rotations and truncations followed")
    following = State(bool, False, access="ro", show=True,
                      doc="whether it follows the file now (its service is active)")

    def on_create(self) -> None:
        self._gate = ActiveGate()
        self._line = ""
        self._fresh = True  # fromStart applies to the first session after a new path

    def on_activate(self) -> None:
        self._gate.set_active(True)

    def on_deactivate(self) -> None:
        self._gate.set_active(False)

    def on_state(self, name: str, value: object) -> None:
        if name in ("path", "fromStart", "maxLineBytes"):
            self._fresh = name != "maxLineBytes" or self._fresh
            self._gate.restart()

    def compute(self, inputs: Inputs) -> str:
        return self._line

    async def run_source(self, ctx: SourceContext) -> None:
        await run_while_active(self._gate, ctx, lambda: self._session(ctx))

    async def _session(self, ctx: SourceContext) -> None:
        follower = Follower(file_path(self.path, "File Tail"), self.maxLineBytes,
                            self.fromStart and self._fresh)
        self._fresh = False
        try:
            while True:
                lines = follower.poll()
                if not self.following:
                    self.following = True
                if follower.cut != self.cut or follower.reopened != self.reopened:
                    self.cut, self.reopened = follower.cut, follower.reopened
                for line in lines:
                    self._line = line
                    await ctx.trigger("fired")
                if not lines:
                    await asyncio.sleep(self.pollMs / 1000)
        finally:
            follower.close()
            self.following = False


def as_line(value: Any) -> bytes:
    """``value`` as one line: a string as is, anything else as JSON; line ends inside it
    are written as \\n and \\r, so one value is one line."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"),
                                                          allow_nan=False, default=str)
    data = (text.replace("\r", "\\r").replace("\n", "\\n") + "\n").encode()
    if len(data) > MAX_LINE:
        raise ValueError(f"a line of {len(data)} bytes is longer than {MAX_LINE}")
    return data


def rotate(path: Path, backups: int) -> None:
    """path.N-1 -> path.N ... path -> path.1 (the oldest dropped); no backups: removed."""
    if backups == 0:
        path.unlink(missing_ok=True)
        return
    for i in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{i}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{i + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def append_line(path: Path, data: bytes, max_bytes: int, backups: int) -> bool:
    """Append ``data``, rotating first when it would take the file past ``max_bytes``;
    whether it rotated."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    rotated = 0 < size and size + len(data) > max_bytes
    if rotated:
        rotate(path, backups)
    with path.open("ab") as file:
        file.write(data)
    return rotated


class FileWrite(Operator):
    """On exec, appends value as one line to the file at path, then continues: a string as
    is, anything else as JSON (line ends inside it written as \\n). When the line would take
    the file past maxBytes, the file is rotated first: path.1 is the newest old file, up to
    backups of them (0: the file starts anew). A relative path is under the service's
    working directory; its folder must exist."""

    class_name = "bridge.file_write"
    label = "File Write"
    category = "bridges"
    in_ = ExecIn(name="in")
    out = ExecOut(doc="fires after the line is written")
    value = DataIn(Any, None, doc="what to write")
    path = State(FilePath, "", show=True, doc="the file to append to")
    maxBytes = State(int, 10 * 1_048_576, ge=64, le=1 << 30,
                     doc="the size past which the file is rotated")
    backups = State(int, 3, ge=0, le=20, doc="old files kept: path.1 ... path.N")
    rotations = State(int, 0, access="ro", doc="rotations done")

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        data = as_line(ctx.input("value"))
        if append_line(file_path(self.path, "File Write"), data, self.maxBytes, self.backups):
            self.rotations = self.rotations + 1
        return "out"
