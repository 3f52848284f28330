"""A deployed service's output file, as Studio follows it: every line reaches the log, also
across a rotation of the service's ``--log-file``, and the file is bounded by rotation."""

from __future__ import annotations

import logging.handlers
import subprocess
import sys
from pathlib import Path

from runtime.service.main import LOG_FILE_BACKUPS, LOG_FILE_MAX_BYTES
from studio_app.bridge.service_procs import ServiceProcess

WRITER = """
import os, sys, time
path = sys.argv[1]
with open(path, "a") as f:
    f.write("one\\ntwo\\n")
time.sleep(0.3)
os.rename(path, path + ".1")
with open(path, "a") as f:
    f.write("three\\nfour")
time.sleep(0.3)
"""


async def test_follow_hands_on_every_line_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_bytes(b"")
    popen = subprocess.Popen([sys.executable, "-c", WRITER, str(log)])  # noqa: ASYNC220 - the type Studio keeps
    proc = ServiceProcess("svc", popen, log)
    try:
        lines: list[str] = []
        await proc.follow(lines.append)
        assert lines == ["one", "two", "three", "four"]
    finally:
        proc.release()
        popen.wait(10)


def test_a_service_with_log_file_logs_there_rotated_and_bounded(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    probe = ("import logging, sys; from runtime.service.main import prepare; "
             "prepare(None, ['--log-file', sys.argv[1], '--class', 'rungraph.service']); "
             "h = logging.getLogger().handlers; "
             "print(type(h[0]).__name__, h[0].maxBytes, h[0].backupCount, len(h)); "
             "logging.getLogger('x').warning('to the file')")
    out = subprocess.run([sys.executable, "-c", probe, str(log)], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[3])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [logging.handlers.RotatingFileHandler.__name__,
                                  str(LOG_FILE_MAX_BYTES), str(LOG_FILE_BACKUPS), "1"]
    assert "WARNING x: to the file" in log.read_text()
    assert "to the file" not in out.stderr
