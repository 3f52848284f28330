"""Simulate and Deploy behind one interface: a runtime session. No Qt.

Both are a ``runtime.client.Client`` over a transport plus a way to load the graph: Simulate runs
every service in this process on a MemoryHub (CPU mocks stand in for hardware); Deploy talks to
service processes over NATS, starting the embedded nats-server (and, if asked, local service
processes) on demand. Live state, commands and the active toggle then take the same path: KV
watches and command calls through the client. Calls never raise: a service that does not answer
gives an error envelope (TIMEOUT / NOT_FOUND), so the UI shows it on the service's row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from runtime.protocol.graph import RunGraph
from runtime.registry import Registry
from runtime.transport.base import Watch

log = logging.getLogger(__name__)
LogFn = Callable[[str, str], None]  # (source, line)


def failure(code: str, message: str) -> dict[str, Any]:
    return {
        "reqId": None,
        "ok": False,
        "result": None,
        "error": {"code": code, "message": message, "details": {}},
    }


class RuntimeSession:
    mode: ClassVar[str] = ""

    def __init__(self, registry: Registry, on_log: LogFn | None = None) -> None:
        self.registry = registry
        self.on_log = on_log or (lambda source, line: log.info("[%s] %s", source, line))
        self.client: Any = None
        self.graph: RunGraph | None = None

    async def open(self) -> None:
        raise NotImplementedError

    async def load(self, graph: RunGraph) -> dict[str, dict[str, Any]]:
        """Run ``graph``; each service's reply. Raises GraphError (problems) or DeployError."""
        raise NotImplementedError

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            try:
                await asyncio.wait_for(client.close(), 5.0)
            except Exception as exc:  # noqa: BLE001 - the server may be gone already
                log.warning("closing the %s connection: %s", self.mode, exc)

    def service_ids(self) -> list[str]:
        return [s.serviceId for s in self.graph.services] if self.graph else []

    # the same signature as runtime.client.Client.call
    async def call(
        self,
        service_id: str,
        call: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        from runtime.client.client import ServiceUnavailable

        if self.client is None:
            return failure("NOT_FOUND", "not connected")
        try:
            return dict(await self.client.call(service_id, call, args, timeout=timeout))
        except ServiceUnavailable as exc:
            code = "TIMEOUT" if "did not answer" in str(exc) else "NOT_FOUND"
            return failure(code, str(exc))
        except Exception as exc:
            log.exception("call %s on %s failed", call, service_id)
            return failure("INTERNAL", f"{type(exc).__name__}: {exc}")

    async def watch(self, service_id: str, handler: Callable[[Any], None]) -> Watch:
        return await self.client.watch_state(service_id, handler)

    async def status_rows(self) -> list[dict[str, Any]]:
        """One row per service: id, class, version, status, active, last error."""
        ids = self.service_ids()
        replies = await asyncio.gather(*(self.call(sid, "status", timeout=1.5) for sid in ids))
        rows = []
        for sid, reply in zip(ids, replies, strict=True):
            rows.append(row_from_status(sid, reply, self.graph))
        return rows


def row_from_status(
    sid: str, reply: dict[str, Any], graph: RunGraph | None, record: Any = None
) -> dict[str, Any]:
    svc = next((s for s in graph.services if s.serviceId == sid), None) if graph else None
    row: dict[str, Any] = {
        "serviceId": sid,
        "serviceClass": getattr(record, "serviceClass", None) or (svc.serviceClass if svc else ""),
        "version": getattr(record, "version", "") or "",
        "active": None,
        "status": "",
        "lastError": "",
    }
    if reply.get("ok"):
        res = reply.get("result") or {}
        row.update(
            serviceClass=res.get("serviceClass", row["serviceClass"]),
            version=res.get("version", row["version"]),
            active=res.get("active"),
            status="active" if res.get("active") else "inactive",
            revision=res.get("revision"),
            passes=res.get("passes"),
        )
        errors = res.get("errors") or []
        if errors:
            last = errors[-1]
            row["lastError"] = f"{last.get('node')}: {last.get('message')}"
    else:
        err = reply.get("error") or {}
        row["status"] = "timeout" if err.get("code") == "TIMEOUT" else "offline"
        row["lastError"] = err.get("message", "")
    return row


class SimSession(RuntimeSession):
    """The whole graph in this process, on the memory transport, with CPU mocks."""

    mode = "simulate"

    async def open(self) -> None:
        from runtime.client.client import Client
        from runtime.service.sim import Simulation

        self.sim = Simulation(self.registry)
        self.client = Client(self.sim.hub.connect(), actor="studio")

    async def load(self, graph: RunGraph) -> dict[str, dict[str, Any]]:
        applied = await self.sim.load(graph)
        self.graph = applied
        return {
            sid: {
                "reqId": None,
                "ok": True,
                "result": {"revision": applied.revision, "mode": "simulate"},
                "error": None,
            }
            for sid in self.service_ids()
        }

    @property
    def running(self) -> bool:
        return bool(self.sim.running)

    def start(self) -> None:
        self.sim.start()

    def pause(self) -> None:
        self.sim.pause()

    async def step(self, ticks: int = 1) -> None:
        await self.sim.step(ticks)

    async def close(self) -> None:
        await super().close()
        await self.sim.stop()


class DeploySession(RuntimeSession):
    """Service processes over NATS; the embedded server and local processes on demand."""

    mode = "deploy"

    def __init__(
        self,
        registry: Registry,
        url: str | None,
        store_dir: Path | None = None,
        on_log: LogFn | None = None,
        launch_missing: bool = True,
        use_mocks: bool = True,
        ready_timeout: float = 20.0,
    ) -> None:
        super().__init__(registry, on_log)
        self.requested_url = url
        self.url: str | None = None
        self.store_dir = store_dir
        self.launch_missing = launch_missing
        self.use_mocks = use_mocks
        self.ready_timeout = ready_timeout
        self.server: Any = None
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self.revision = 0
        self.records: dict[str, Any] = {}  # the last discovery: service id -> ServiceRecord

    async def open(self) -> None:
        from runtime.client.client import Client
        from runtime.nats_server import default_store_dir, ensure_server

        store = self.store_dir or default_store_dir()
        loop = asyncio.get_running_loop()
        # starting a server waits for it: off the event loop, so the window keeps painting
        self.url, self.server = await loop.run_in_executor(
            None, ensure_server, self.requested_url, store
        )
        self.on_log("studio", f"NATS at {self.url}" + (" (started)" if self.server else ""))
        self.client = await Client.connect(self.url, actor="studio", connect_timeout_s=5.0)

    async def discover(self, timeout: float = 0.25) -> list[Any]:  # noqa: ASYNC109
        return list(await self.client.discover(timeout)) if self.client else []

    async def load(self, graph: RunGraph) -> dict[str, dict[str, Any]]:
        self.graph = graph
        if self.launch_missing:
            await self._launch_missing(graph)
        self.revision = max(self.revision, graph.revision) + 1
        sent = graph.model_copy(update={"revision": self.revision})
        replies: dict[str, dict[str, Any]] = await self.client.deploy(sent, self.registry)
        return replies

    async def _launch_missing(self, graph: RunGraph) -> None:
        running = {r.serviceId for r in await self.discover()}
        for svc in graph.services:
            sid = svc.serviceId
            proc = self.processes.get(sid)
            if sid in running or (proc is not None and proc.returncode is None):
                continue
            cls = self.registry.service(svc.serviceClass, simulate=self.use_mocks)
            if cls is None:
                continue  # deploy's validation names it
            from runtime.cli.serve import service_command

            cmd = [
                *service_command(),
                "--nats",
                str(self.url),
                "--service-id",
                sid,
                "--class",
                cls.spec().className,
            ]
            self.on_log("studio", f"starting service {sid} ({cls.spec().className})")
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            self.processes[sid] = proc
            self._pumps.append(asyncio.get_running_loop().create_task(self._pump(sid, proc)))
        deadline = asyncio.get_running_loop().time() + self.ready_timeout
        for sid, proc in self.processes.items():
            while (await self.call(sid, "status", timeout=0.5)).get("ok") is not True:
                if proc.returncode is not None:
                    raise RuntimeError(f"service {sid} exited with code {proc.returncode}")
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"service {sid} did not come up in {self.ready_timeout}s")
                await asyncio.sleep(0.1)

    async def _pump(self, sid: str, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self.on_log(sid, line.decode(errors="replace").rstrip())

    def service_ids(self) -> list[str]:
        return list(dict.fromkeys([*super().service_ids(), *self.records]))

    async def status_rows(self) -> list[dict[str, Any]]:
        records = {r.serviceId: r for r in await self.discover()}
        self.records = records
        ids = list(dict.fromkeys([*super().service_ids(), *records]))
        replies = await asyncio.gather(*(self.call(sid, "status", timeout=1.5) for sid in ids))
        return [
            row_from_status(sid, reply, self.graph, records.get(sid))
            for sid, reply in zip(ids, replies, strict=True)
        ]

    async def close(self) -> None:
        await super().close()
        for sid, proc in self.processes.items():
            if proc.returncode is None:
                self.on_log("studio", f"stopping service {sid}")
                proc.terminate()
        for proc in self.processes.values():
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
        for pump in self._pumps:
            pump.cancel()
        self.processes.clear()
        if self.server is not None:
            server, self.server = self.server, None
            await asyncio.get_running_loop().run_in_executor(None, server.stop)
