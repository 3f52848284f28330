"""The ways a service file may end, each run as a real process against a real nats-server:
seed 001's ``uvloop.run(MyComponent.run())``, ``await MyComponent.run()`` inside a user's own
``asyncio.run(main())``, and DESIGN.md's plain statement ``MyComponent.run()``. Each serves,
runs its async start hook before it is ready, shows its integer instance id, and stops with
code 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime import Service
from runtime.client import Client
from runtime.protocol.identity import MAX_INSTANCE_ID
from runtime.service.entry import ServiceRun, result_dropped
from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "tests" / "integration" / "run_forms"
Run = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def run_file(tmp_path: Path) -> Iterator[Run]:
    """``run_file("seed_footer", "--nats", url, ...)``: a service file of ``run_forms/`` run as
    ``python3 FILE ARGS``; its output goes to ``proc.log_path``; all are stopped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"{name}-{len(procs)}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(FORMS / f"{name}.py"), *args], stdout=log,
                stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        proc.log_path = log_path  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def output(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text()  # type: ignore[attr-defined]


async def exit_code(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:  # noqa: ASYNC109
    return await asyncio.to_thread(proc.wait, timeout)


@pytest.mark.parametrize(("form", "loop"), [("seed_footer", "uvloop"),
                                            ("own_loop", "asyncio"),
                                            ("bare_statement", "uvloop")])
async def test_each_footer_serves_and_stops_cleanly(run_file: Run, nats_url: str, client: Client,
                                                    form: str, loop: str) -> None:
    proc = run_file(form, "--nats", nats_url, "--service-id", "comp")
    await wait_ready(client, "comp")

    who = await client.call("comp", "whoami", timeout=5)
    status = await client.call("comp", "status", timeout=5)
    proc.send_signal(signal.SIGTERM)
    code = await exit_code(proc)

    assert who.ok, who.error
    assert who.result["greeting"] == "hello"  # the async start hook ran before it served
    assert who.result["loop"].split(".")[0] == loop
    number = who.result["instanceId"]
    assert isinstance(number, int)
    assert 0 < number <= MAX_INSTANCE_ID
    assert status.result["instance"]["number"] == number
    assert code == 0, output(proc)
    assert "never awaited" not in output(proc)
    assert "must not be reached" not in output(proc)


async def test_two_processes_have_different_instance_ids(run_file: Run, nats_url: str,
                                                         client: Client) -> None:
    a = run_file("seed_footer", "--nats", nats_url, "--service-id", "one")
    b = run_file("bare_statement", "--nats", nats_url, "--service-id", "two")
    await wait_ready(client, "one", "two")

    first = await client.call("one", "whoami", timeout=5)
    second = await client.call("two", "whoami", timeout=5)
    again = await client.call("one", "whoami", timeout=5)
    for proc in (a, b):
        proc.send_signal(signal.SIGTERM)

    assert first.result["instanceId"] != second.result["instanceId"]
    assert again.result["instanceId"] == first.result["instanceId"]  # stable for its life


async def test_a_connection_failure_raises_out_of_the_awaited_run(run_file: Run) -> None:
    proc = run_file("own_loop", "--nats", "nats://127.0.0.1:1", "--connect-timeout", "0.5")

    code = await exit_code(proc)

    assert code == 3, output(proc)  # the file caught ConnectionError and chose its own code
    assert "caught ConnectionError" in output(proc)


async def test_a_connection_failure_exits_1_from_the_plain_statement(run_file: Run) -> None:
    proc = run_file("bare_statement", "--nats", "nats://127.0.0.1:1", "--connect-timeout", "0.5")

    code = await exit_code(proc)

    assert code == 1, output(proc)
    assert "must not be reached" not in output(proc)


@pytest.mark.parametrize("form", ["seed_footer", "own_loop", "bare_statement"])
async def test_a_failing_start_hook_fails_the_start_before_ready(
        run_file: Run, nats_url: str, client: Client, form: str) -> None:
    proc = run_file(form, "--nats", nats_url, "--service-id", "broken",
                    env={"RUN_FORMS_FAIL_START": "1"})

    code = await exit_code(proc)

    assert code != 0
    text = output(proc)
    assert "start hook async_init failed: RuntimeError: the model would not load" in text
    assert "ready:" not in text
    kv = await client.transport.key_value("svc_broken", create=False)
    ready = await kv.get("ready")
    assert ready is None or json.loads(ready.value or b"null")["value"] is False


@pytest.mark.parametrize("form", ["seed_footer", "own_loop", "bare_statement"])
async def test_describe_prints_the_spec_and_exits_0(run_file: Run, form: str) -> None:
    proc = run_file(form, "--describe")

    code = await exit_code(proc)

    assert code == 0, output(proc)
    assert '"className": "test.my_component"' in output(proc)


# -- the awaitable itself, in this process -----------------------------------------------------


class Quiet(Service):
    class_name = "test.quiet"


def test_a_run_never_awaited_warns_naming_both_forms() -> None:
    run = Quiet.run(["--describe"])  # kept, so not run here: an awaitable

    with pytest.warns(RuntimeWarning, match=r"Quiet.run\(\) was never awaited") as caught:
        del run  # the last reference: dropped at once

    text = str(caught[0].message)
    assert "await Quiet.run()" in text
    assert "Quiet.main()" in text


def test_a_run_kept_outside_a_loop_is_an_awaitable_coroutine() -> None:
    run = Quiet.run(["--describe"])
    try:
        assert isinstance(run, ServiceRun)
        assert asyncio.iscoroutine(run)  # asyncio.run and uvloop.run take it
    finally:
        run.close()


async def test_a_run_inside_a_running_loop_is_always_an_awaitable() -> None:
    run = Quiet.run(["--describe"])  # a statement of its own, but a loop runs: not run here

    assert isinstance(run, ServiceRun)
    run.close()


def test_only_a_plain_statement_drops_the_value_of_its_call() -> None:
    found: list[bool] = []
    names = {"probe": lambda: found.append(result_dropped(sys._getframe(1))),
             "f": lambda value: None}

    exec(compile("probe()\nkept = probe()\nf(probe())\n", "<forms>", "exec"), names)

    assert found == [True, False, False]
