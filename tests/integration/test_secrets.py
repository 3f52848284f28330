"""Secrets stay secret against a real nats-server and a real service process: a write-only value
is absent from replies, get_state, watches and every message of the KV stream; the service still
holds it after being killed and started again; a deploy may not set a read-only field."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import NotFoundError

from runtime.client import Client, StateEvent
from runtime.protocol import naming
from runtime.protocol.envelope import ErrorCode
from tests.integration.conftest import ROOT, wait_ready
from tests.nats_fixtures import eventually

pytestmark = pytest.mark.integration
SID = "vault"
SECRET = "hunter2-correct-horse"
SERVICE_FILE = '''
from pydantic import BaseModel

from runtime import Service, State, command


class Guess(BaseModel):
    guess: str


class Vault(Service):
    """Opens for the token it was given through set_state."""

    class_name = "test.vault"
    token = State(str, "", access="wo")
    opened = State(int, 0, access="ro")

    @command
    async def check(self, args: Guess) -> bool:
        ok = bool(self.token) and args.guess == self.token
        if ok:
            self.opened = self.opened + 1
        return ok


if __name__ == "__main__":
    Vault.run()
'''


@pytest.fixture
def vault_process(tmp_path: Path, nats_url: str) -> Iterator[Any]:
    """``start(data_dir)``: the Vault service as its own process (its data dir decides where
    its open-mode key file lives); every process is killed at teardown."""
    script = tmp_path / "vault_service.py"
    script.write_text(SERVICE_FILE)
    procs: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path) -> subprocess.Popen[bytes]:
        with open(tmp_path / f"vault-{len(procs)}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(script), "--nats", nats_url, "--service-id", SID],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "XDG_DATA_HOME": str(data_dir)})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _liveness(key: str) -> bool:
    """The keys an instance refreshes by itself while it runs (its lease and its record)."""
    return key == "leader" or key.startswith("instances.")


async def stream_values(url: str, liveness: bool = True) -> list[bytes]:
    """Every message of the service's KV stream, history included: whatever a reader of the
    bucket can fetch, read with plain nats-py. ``liveness=False`` leaves out the instance's own
    lease and record, which it refreshes every 0.75 s whatever else happens."""
    prefix = f"$KV.{naming.bucket_name(SID)}."
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        stream = f"KV_{naming.bucket_name(SID)}"
        info = await js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue  # superseded by a newer value of its key
            if liveness or not _liveness((msg.subject or "").removeprefix(prefix)):
                found.append(msg.data or b"")
        kv = await js.key_value(naming.bucket_name(SID))
        for key in await kv.keys():
            if not liveness and _liveness(key):
                continue
            entry = await kv.get(key)
            found.append(entry.value or b"")
        return found
    finally:
        await nc.close()


async def settled_values(url: str) -> list[bytes]:
    """``stream_values`` without liveness once two reads 0.5 s apart agree: the writes a
    service makes as it starts may land a moment after it says it is ready."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    last = await stream_values(url, liveness=False)
    while True:
        await asyncio.sleep(0.5)
        now = await stream_values(url, liveness=False)
        if now == last:
            return now
        assert loop.time() < deadline, "the service's KV never stopped changing after it started"
        last = now


async def state_of(client: Client) -> dict[str, Any]:
    reply = await client.call(SID, "get_state", {"nodeId": SID}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def restart(proc: subprocess.Popen[bytes], start: Any, data_dir: Path,
                  client: Client) -> None:
    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait, 10)
    start(data_dir)
    await wait_ready(client, SID)


async def test_a_write_only_value_is_in_no_reply_watch_or_kv_value_and_survives_a_restart(
        client, nats_url, vault_process, tmp_path):
    data_dir = tmp_path / "data"
    proc = vault_process(data_dir)
    await wait_ready(client, SID)
    events: list[StateEvent] = []
    watch = await client.watch_state(SID, events.append)

    written = await client.call(SID, "set_state",
                                {"nodeId": SID, "field": "token", "value": SECRET})
    await eventually(lambda: any(e.field == "token" and e.actor != "runtime" for e in events),
                     what="the token's KV update")
    await watch.stop()

    assert written.result == {"nodeId": SID, "field": "token", "value": None, "sealed": True}
    assert SECRET not in written.model_dump_json()
    state = await state_of(client)
    assert "token" not in state
    assert SECRET not in json.dumps(state)
    token_events = [e for e in events if e.field == "token"]
    assert token_events[-1].sealed is True
    assert all(SECRET not in json.dumps(e.to_dict(), default=str) for e in events)
    values = await stream_values(nats_url)
    assert values
    assert all(SECRET.encode() not in v for v in values)
    key_files = list((data_dir / "rungraph" / "keys").glob(f"*/{SID}.key"))
    assert len(key_files) == 1
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600

    await restart(proc, vault_process, data_dir, client)

    opened = await client.call(SID, "check", {"guess": SECRET}, timeout=10)
    assert opened.result is True, opened  # the restarted service opened its sealed token
    assert naming.ERROR_FIELD not in await state_of(client)
    assert all(SECRET.encode() not in v for v in await stream_values(nats_url))


async def test_a_value_sealed_with_another_key_is_skipped_with_an_error_on_the_node(
        client, vault_process, tmp_path):
    proc = vault_process(tmp_path / "data")
    await wait_ready(client, SID)
    await client.call(SID, "set_state", {"nodeId": SID, "field": "token", "value": SECRET})

    await restart(proc, vault_process, tmp_path / "other", client)  # another key file

    state = await state_of(client)
    assert state[naming.ERROR_FIELD]["where"] == "restore"
    assert "'token'" in state[naming.ERROR_FIELD]["message"]
    refused = await client.call(SID, "check", {"guess": SECRET}, timeout=10)
    assert refused.result is False


async def test_a_deploy_setting_a_read_only_field_is_refused_and_changes_nothing(
        client, nats_url, vault_process, tmp_path):
    vault_process(tmp_path / "data")
    await wait_ready(client, SID)
    before = await settled_values(nats_url)
    graph = {"graphId": "g", "revision": 1, "nodes": [], "edges": [],
             "services": [{"serviceId": SID, "serviceClass": "test.vault",
                           "stateValues": {"opened": 1000}}]}

    reply = await client.call(SID, "set_rungraph", {"rungraph": graph}, timeout=10)

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS
    assert [(p["node"], p["field"]) for p in reply.error.details["problems"]] == [
        (SID, "opened")]
    assert (await state_of(client))["opened"] == 0
    assert await stream_values(nats_url, liveness=False) == before
    status = await client.call(SID, "status")
    assert status.result["revision"] == 0
