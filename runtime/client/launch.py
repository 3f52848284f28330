"""Starting service processes from this installation, and waiting until they answer.

``rungraph serve`` and Studio's Deploy both launch service processes this way (``rungraph
serve`` as many per service as the graph or the service class asks: one service with several
instances); a frozen bundle (PyInstaller) starts itself with the ``service`` sub-command instead
of ``-m``.
"""

from __future__ import annotations

import asyncio
import os
import sys

from runtime.client.caller import Caller
from runtime.client.errors import NoService, ServiceExited, ServiceUnavailable
from runtime.component import ServiceNode
from runtime.protocol.graph import GraphService

MAX_INSTANCES = 16
"""The most instances of one service ``rungraph serve`` starts."""


def instances_wanted(service: GraphService, cls: type[ServiceNode]) -> int:
    """How many instances of ``service`` to start: the graph's ``instances``, else the class's
    own ``instances``, within 1 to ``MAX_INSTANCES``."""
    wanted = service.instances if service.instances is not None else cls.instances
    return max(1, min(MAX_INSTANCES, wanted))


def service_command() -> list[str]:
    """How to start a service process from this installation (or from a bundle)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "service"]
    return [sys.executable, "-m", "runtime.service.main"]


def service_argv(nats_url: str, service_id: str, class_name: str, *,
                 creds: str | os.PathLike[str] | None = None,
                 namespace: str | None = None) -> list[str]:
    """The full command line of one service process (``creds``: its identity's seed file;
    without, the process finds its own, see ``runtime.service.main``)."""
    argv = [*service_command(), "--nats", nats_url, "--service-id", service_id,
            "--class", class_name]
    if creds is not None:
        argv += ["--creds", os.fspath(creds)]
    if namespace is not None:
        argv += ["--namespace", namespace]
    return argv


async def launch_service(nats_url: str, service_id: str, class_name: str, *,
                         creds: str | os.PathLike[str] | None = None,
                         namespace: str | None = None) -> asyncio.subprocess.Process:
    """Start one service process; its stdout and stderr come out merged on ``proc.stdout``."""
    return await asyncio.create_subprocess_exec(
        *service_argv(nats_url, service_id, class_name, creds=creds, namespace=namespace),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def wait_answering(
    client: Caller, service_id: str,
    timeout: float,  # noqa: ASYNC109 - fails with NoService naming the service
    process: asyncio.subprocess.Process | None = None, *,
    call_timeout: float = 1.0, interval: float = 0.2,
) -> None:
    """Ask ``status`` until the service answers. Raises ``ServiceExited`` when ``process`` ends
    first, ``NoService`` when ``timeout`` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.call(service_id, "status", timeout=call_timeout)
            return
        except ServiceUnavailable:
            if process is not None and process.returncode is not None:
                raise ServiceExited(service_id, process.returncode) from None
            if loop.time() > deadline:
                raise NoService(service_id, f"service {service_id!r} did not come up within "
                                            f"{timeout:g}s") from None
            await asyncio.sleep(interval)


async def wait_instances(
    client: Caller, service_id: str, count: int,
    timeout: float,  # noqa: ASYNC109 - fails with NoService naming the service
    processes: list[asyncio.subprocess.Process] | None = None, *, interval: float = 0.2,
) -> None:
    """Ask ``status`` until the service has ``count`` live instances. Raises ``ServiceExited``
    when one of ``processes`` ends first, ``NoService`` when ``timeout`` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            reply = await client.call(service_id, "status", timeout=1.0)
            found = reply.result.get("instances") if isinstance(reply.result, dict) else None
            if isinstance(found, list) and sum(
                    1 for i in found if isinstance(i, dict) and i.get("alive")) >= count:
                return
        except ServiceUnavailable:
            pass  # not up yet: asked again below
        for process in processes or []:
            if process.returncode is not None:
                raise ServiceExited(service_id, process.returncode)
        if loop.time() > deadline:
            raise NoService(service_id, f"service {service_id!r} did not come up with {count} "
                                        f"instances within {timeout:g}s")
        await asyncio.sleep(interval)
