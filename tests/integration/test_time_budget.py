"""A service process whose operator's ``compute`` never returns (issue 10): the call is stopped
at its time budget and shown on the node, the service answers ``status`` meanwhile, and SIGTERM
stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.client import Client
from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

SERVICE = '''
from runtime import DataOut, Inputs, Operator, Service, default_registry

class Spin(Operator):
    class_name = "test.spin"
    time_budget_s = 0.5
    out = DataOut(float)

    def compute(self, inputs: Inputs) -> float:
        while True:
            pass

class Host(Service):
    class_name = "test.spin_host"

default_registry().register(Spin)
default_registry().register(Host)

if __name__ == "__main__":
    Host.run()
'''


@pytest.fixture
def spin_process(nats_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The service file above, run as ``python3 spin_service.py --nats URL --service-id spin``."""
    path = tmp_path / "spin_service.py"
    path.write_text(SERVICE)
    with open(tmp_path / "spin.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, str(path), "--nats", nats_url,
                                 "--service-id", "spin"], stdout=log, stderr=subprocess.STDOUT,
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        yield proc
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def test_a_compute_that_never_returns_is_stopped_in_a_service_process(
        client: Client, spin_process: subprocess.Popen[bytes]) -> None:
    proc = spin_process
    await wait_ready(client, "spin")
    graph = {"graphId": "spin", "revision": 1,
             "services": [{"serviceId": "spin", "serviceClass": "test.spin_host"}],
             "nodes": [{"nodeId": "tick", "serviceId": "spin", "class": "core.tick",
                        "stateValues": {"tickMs": 100}},
                       {"nodeId": "p", "serviceId": "spin", "class": "core.print"},
                       {"nodeId": "s", "serviceId": "spin", "class": "test.spin"}],
             "edges": [{"kind": "exec", "from": {"node": "tick", "port": "out"},
                        "to": {"node": "p", "port": "in"}},
                       {"kind": "data", "from": {"node": "s", "port": "out"},
                        "to": {"node": "p", "port": "value"}}]}
    assert (await client.call("spin", "set_rungraph", {"rungraph": graph}, timeout=10)).ok
    errors: list[dict[str, object]] = []

    async def stopped() -> bool:
        reply = await client.call("spin", "status", timeout=5)
        assert reply.ok  # the service answers while its operator spins
        errors[:] = [e for e in reply.result["errors"] if e["node"] == "s"]
        return bool(errors)

    deadline = asyncio.get_running_loop().time() + 20
    while not await stopped():
        assert asyncio.get_running_loop().time() < deadline, "the spin was never stopped"
        await asyncio.sleep(0.2)
    assert errors[0]["where"] == "compute"
    assert str(errors[0]["message"]).startswith("BudgetExceeded: ran ")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 20) == 0
