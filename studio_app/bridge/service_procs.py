"""The service processes a Deploy session starts, made so that they can outlive Studio. No Qt.

Each process runs in a session of its own (a signal to Studio's terminal or process group does
not reach it) and writes its stdout and stderr to a log file, which Studio follows onto its log
while it runs. A pipe read by Studio would break when Studio exits and the service would then
fail on its next line; a file does not. And unlike an asyncio subprocess, whose transport kills
the child when it is closed or collected, a ``subprocess.Popen`` left behind kills nothing: Quit
> Leave running (``DeploySession.leave_running``) only stops following the file.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.client import NoService, ServiceExited, ServiceUnavailable, service_argv
from runtime.client.caller import Caller

FOLLOW_INTERVAL_S = 0.1
"""How often the log file of a running service is read for new lines."""
FOLLOW_READ_BYTES = 1 << 20
"""The most one read of the log file takes at a time."""


@dataclass(frozen=True)
class LeftRunning:
    """What ``DeploySession.leave_running`` left running, and where to find it again."""

    url: str
    store_dir: Path | None  # the store of the server Studio ran (None: an external server)
    services: dict[str, int]  # service id: process id
    server_pid: int | None  # the nats-server Studio started (None: it did not start one)
    log_dir: Path | None  # where the services' output goes on (None: none was started)

    def summary(self) -> str:
        where = f"NATS at {self.url}" + (f" (store {self.store_dir})" if self.store_dir else "")
        services = ", ".join(f"{sid} (pid {pid})" for sid, pid in sorted(self.services.items()))
        parts = [f"left running: {services or 'no service process'}"]
        if self.server_pid is not None:
            parts.append(f"nats-server (pid {self.server_pid})")
        output = f"; service output in {self.log_dir}" if self.log_dir and self.services else ""
        return f"{' and '.join(parts)}; {where}{output}; Run > Connect to NATS reaches them again"


class ServiceProcess:
    """One service process Studio started, and the log file its output goes to. Until it is
    released (stopped, or left running) it is terminated when Studio's interpreter exits, as
    the nats-server Studio started is: its own session keeps Studio's Ctrl+C from reaching it."""

    def __init__(self, service_id: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.service_id = service_id
        self.popen = popen
        self.log_path = log_path
        atexit.register(self._at_exit)

    def release(self) -> None:
        """Studio's exit no longer stops this process (it was stopped, or is left running)."""
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        self.terminate()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """None while the process runs, else its exit code."""
        return self.popen.poll()

    def terminate(self) -> None:
        if self.returncode is None:
            self.popen.terminate()

    def kill(self) -> None:
        if self.returncode is None:
            self.popen.kill()

    async def wait(self, timeout: float) -> int:  # noqa: ASYNC109 - a bounded poll
        """The exit code once the process ended; TimeoutError after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (code := self.returncode) is None:
            if loop.time() > deadline:
                raise TimeoutError(f"service {self.service_id} did not exit in {timeout:g}s")
            await asyncio.sleep(0.05)
        return code

    async def follow(self, on_line: Callable[[str], None]) -> None:
        """Hand each line the process writes to ``on_line`` until it exits (or the task is
        cancelled: the process goes on writing to its file)."""
        f = open(self.log_path, "rb")  # noqa: ASYNC230 - a local file, small reads
        try:
            partial = b""
            while True:
                ended = self.returncode is not None  # read before the last lines are
                chunk = f.read(FOLLOW_READ_BYTES)
                if chunk:
                    *lines, partial = (partial + chunk).split(b"\n")
                    for line in lines:
                        on_line(line.decode(errors="replace").rstrip())
                elif ended:
                    if partial:
                        on_line(partial.decode(errors="replace").rstrip())
                    return
                elif self._rotated(f):  # the service's log went on in a new file
                    f.close()
                    f = open(self.log_path, "rb")  # noqa: ASYNC230
                else:
                    await asyncio.sleep(FOLLOW_INTERVAL_S)
        finally:
            f.close()

    def _rotated(self, f: Any) -> bool:
        """Whether the log path names another file than ``f`` now (``--log-file`` rotated)."""
        try:
            return os.stat(self.log_path).st_ino != os.fstat(f.fileno()).st_ino
        except OSError:  # between the rename and the new file: look again next time
            return False


def start_service(
    url: str,
    service_id: str,
    class_name: str,
    log_dir: Path,
    *,
    creds: str | os.PathLike[str] | None = None,
    namespace: str | None = None,
) -> ServiceProcess:
    """Start one service process (the command line of ``runtime.client.service_argv``) with its
    output in ``log_dir/<service id>.log``, emptied first."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{service_id}.log"
    log_path.write_bytes(b"")
    with open(log_path, "ab") as out:  # the child keeps its own descriptor
        popen = subprocess.Popen(
            [*service_argv(url, service_id, class_name, creds=creds, namespace=namespace),
             "--log-file", os.fspath(log_path)],  # rotated: bounded while left running
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ServiceProcess(service_id, popen, log_path)


async def wait_up(
    client: Caller, proc: ServiceProcess, timeout: float,  # noqa: ASYNC109 - NoService names it
) -> None:
    """Ask ``status`` until the service answers (``runtime.client.wait_answering`` for a
    process of this module). Raises ServiceExited when it ends first, NoService after
    ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.call(proc.service_id, "status", timeout=1.0)
            return
        except ServiceUnavailable:
            if (code := proc.returncode) is not None:
                raise ServiceExited(proc.service_id, code) from None
            if loop.time() > deadline:
                raise NoService(proc.service_id, f"service {proc.service_id!r} did not come up "
                                                 f"within {timeout:g}s") from None
            await asyncio.sleep(0.2)
