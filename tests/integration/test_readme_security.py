"""The README's Security section, run as written against the local store: issue, use and revoke."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer, server_answers
from tests.integration.test_readme_flow import five_commands, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RUNGRAPH = str(ROOT / ".venv" / "bin" / "rungraph")


def credential_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\*\*Issue credentials\*\*.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None, "the README lost its credentials block"
    return [ln.split("  #")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]


def argv(line: str) -> list[str]:
    args = shlex.split(line.rstrip("&").strip())
    return [RUNGRAPH if a == ".venv/bin/rungraph" else a for a in args]


def test_issued_credentials_work_for_their_role_and_stop_working_when_revoked(tmp_path):
    probe = NatsServer(store_dir=tmp_path / "probe").start()
    url = probe.url
    probe.stop()  # a free port for the user's server
    env = {**os.environ, "RUNGRAPH_NATS": url, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("RUNGRAPH_CREDS", None)
    work = tmp_path / "work"
    work.mkdir()

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True,
                              timeout=60)

    background: list[subprocess.Popen[bytes]] = []
    try:
        nats_line, service_line, deploy_line = five_commands()[:3]
        for line in (nats_line, service_line):
            background.append(subprocess.Popen(argv(line), cwd=ROOT, env=env,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            if "nats" in line.split()[1]:
                wait_for(lambda: server_answers(url), "NATS")
        wait_for(lambda: run([RUNGRAPH, "status", "main"]).returncode == 0, "the service")
        deployed = subprocess.run(argv(deploy_line), cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=60)
        assert deployed.returncode == 0, deployed.stderr

        issue_bob, issue_cam, listing, revoke_bob = credential_commands()
        for line in (issue_bob, issue_cam):
            done = run(argv(line))
            assert done.returncode == 0, done.stderr
        assert (work / "bob.nk").stat().st_mode & 0o077 == 0  # readable by its owner only
        listed = run(argv(listing))
        assert re.search(r"\bbob\s+viewer\b", listed.stdout), listed.stdout

        status = run([RUNGRAPH, "status", "main", "--creds", "bob.nk"])
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["serviceId"] == "main"
        refused = run([RUNGRAPH, "call", "main", "deactivate", "--creds", "bob.nk"])
        assert refused.returncode == 1
        assert json.loads(refused.stdout)["error"]["code"] == "FORBIDDEN"
        assert json.loads(run([RUNGRAPH, "status", "main"]).stdout)["active"] is True

        revoked = run(argv(revoke_bob))
        assert revoked.returncode == 0, revoked.stderr
        after = run([RUNGRAPH, "status", "main", "--creds", "bob.nk"])
        assert after.returncode != 0
        assert run([RUNGRAPH, "status", "main"]).returncode == 0  # the others are untouched
    finally:
        for proc in reversed(background):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
