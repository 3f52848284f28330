"""Simulate and Deploy behind one interface: a runtime session. No Qt.

Both are a ``runtime.client.Client`` over a transport plus a way to load the graph: Simulate runs
every service in this process on a MemoryHub (CPU mocks stand in for hardware); Deploy talks to
service processes over NATS, starting the embedded nats-server (and, if asked, local service
processes) on demand. Live state, commands and the active toggle then take the same path: KV
watches and command calls through the client. Calls never raise: a service that does not answer
gives a ``CallFailed`` with the client's code (TIMEOUT, NOT_FOUND; INVALID_ARGS for a request
larger than the server's max_payload, never sent), so the UI shows it on the service's row.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from runtime.client import (
    Client,
    DeployError,
    ServiceRecord,
    ServiceUnavailable,
    StateEvent,
)
from runtime.client.credentials import (
    find_credentials,
    find_services_credentials,
    process_namespace,
)
from runtime.client.directory import sync_directory_from_store
from runtime.client.errors import RequestTooLarge
from runtime.client.probe import ProbeCaller, SimulationCaller
from runtime.nats_server import NatsServer, default_store_dir, ensure_server
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.protocol.problems import Problem
from runtime.registry import Registry
from runtime.service.sim import Simulation
from runtime.transport.base import Watch
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import CallFailed, Outcome, fault_of
from studio_app.bridge.role_gate import connection_of
from studio_app.bridge.service_procs import LeftRunning, ServiceProcess, start_service, wait_up
from studio_app.bridge.store_isolation import running_server_url, store_admin
from studio_app.document.live_state import (
    InstanceInfo,
    ServiceLoad,
    ServiceRow,
    ServiceStatus,
)
from studio_app.document.session_info import Connection

log = logging.getLogger(__name__)


class LogFn(Protocol):
    """Where a session's lines go: (source, line, level). A line a service process wrote has no
    level here (None): the receiver reads it from the line's log format."""

    def __call__(self, source: str, line: str, level: str | None = None) -> None: ...


class DeployRefused(Exception):
    """A deploy that did not go through: each service's answer (a refusal among them, or why no
    answer came), the services rolled back, and the validator problems a refusal carried."""

    def __init__(
        self,
        outcomes: dict[str, Outcome],
        rolled_back: list[str],
        problems: list[Problem] | None = None,
    ) -> None:
        self.outcomes = outcomes
        self.rolled_back = rolled_back
        self.problems = problems or []
        failed = [f"{sid}: {_message(o)}" for sid, o in outcomes.items() if _message(o)]
        back = f" (rolled back: {', '.join(rolled_back)})" if rolled_back else ""
        super().__init__("deploy refused by " + "; ".join(failed) + back)


def _message(outcome: Outcome) -> str:
    fault = fault_of(outcome)
    return fault.message if fault is not None else ""


def _problems_of(reply: CommandReply) -> list[Problem]:
    """The validator problems a refused ``set_rungraph`` lists in ``error.details``."""
    raw = reply.error.details.get("problems") if reply.error is not None else None
    if not isinstance(raw, list):
        return []
    return [Problem.from_dict(p) for p in raw if isinstance(p, dict)]


def _log_locally(source: str, line: str, level: str | None = None) -> None:
    log.info("[%s] %s", source, line)


class RuntimeSession:
    mode: ClassVar[RunMode]

    def __init__(self, registry: Registry, on_log: LogFn | None = None) -> None:
        self.registry = registry
        self.on_log: LogFn = on_log or _log_locally
        self.client: Client | None = None
        self.graph: RunGraph | None = None
        self.connection: Connection | None = None  # NATS, as whom; None: runs in this process
        self.last_status: dict[str, dict[str, Any]] = {}  # each service's last status result

    async def open(self) -> None:
        raise NotImplementedError

    async def load(self, graph: RunGraph) -> dict[str, CommandReply]:
        """Run ``graph``; the replies of the services that were sent it (none in Simulate).
        Raises GraphError (problems, nothing changed) or DeployRefused."""
        raise NotImplementedError

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            try:
                await asyncio.wait_for(client.close(), 5.0)
            except Exception as exc:  # noqa: BLE001 - the server may be gone already; say so
                log.warning("closing the %s connection: %s", self.mode, exc)

    def service_ids(self) -> list[str]:
        return [s.serviceId for s in self.graph.services] if self.graph else []

    def discovered_specs(self) -> list[dict[str, Any]]:
        """Specs of running services Studio may not know (from discovery)."""
        return []

    # the same signature as runtime.client.Client.call
    async def call(
        self,
        service_id: str,
        call: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,  # noqa: ASYNC109 - sent as timeoutMs
    ) -> Outcome:
        if self.client is None:
            return CallFailed(service_id, call, ErrorCode.NOT_FOUND, "not connected")
        try:
            return await self.client.call(service_id, call, args, timeout=timeout)
        except (ServiceUnavailable, RequestTooLarge) as exc:
            return CallFailed(service_id, call, exc.code, exc.message)
        except Exception as exc:
            log.exception("call %s on %s failed", call, service_id)
            return CallFailed(service_id, call, ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    async def watch(self, service_id: str, handler: Callable[[StateEvent], None]) -> Watch:
        if self.client is None:
            raise RuntimeError(f"the {self.mode} session is not open")
        return await self.client.watch_state(service_id, handler)

    def probe_caller(self) -> ProbeCaller:
        """What wire probes call the services with and hear samples on (``runtime.client.probe``).
        """
        if self.client is None:
            raise RuntimeError(f"the {self.mode} session is not open")
        return self.client

    def _keep_status(self, ids: list[str], outcomes: list[Outcome]) -> None:
        self.last_status = {sid: o.result for sid, o in zip(ids, outcomes, strict=True)
                            if isinstance(o, CommandReply) and isinstance(o.result, dict)}

    async def status_rows(self) -> list[ServiceRow]:
        """One row per service: id, class, version, status, active, last error."""
        ids = self.service_ids()
        outcomes = await asyncio.gather(*(self.call(sid, "status", timeout=1.5) for sid in ids))
        self._keep_status(ids, outcomes)
        return [row_from_status(sid, o, self.graph) for sid, o in zip(ids, outcomes, strict=True)]


def row_from_status(
    sid: str, outcome: Outcome, graph: RunGraph | None, record: ServiceRecord | None = None
) -> ServiceRow:
    svc = next((s for s in graph.services if s.serviceId == sid), None) if graph else None
    row = ServiceRow(
        sid,
        service_class=(record.serviceClass if record else "") or (svc.serviceClass if svc else ""),
        version=record.version if record else "",
    )
    fault = fault_of(outcome)
    if fault is not None:
        status = ServiceStatus.TIMEOUT if fault.code == ErrorCode.TIMEOUT else ServiceStatus.OFFLINE
        return replace(row, status=status, last_error=fault.message)
    assert isinstance(outcome, CommandReply)
    result: dict[str, Any] = outcome.result if isinstance(outcome.result, dict) else {}
    active = result.get("active")
    errors = result.get("errors")
    last = errors[-1] if isinstance(errors, list) and errors else None
    return replace(
        row,
        service_class=str(result.get("serviceClass") or row.service_class),
        version=str(result.get("version") or row.version),
        status=ServiceStatus.ACTIVE if active else ServiceStatus.INACTIVE,
        active=active if isinstance(active, bool) else None,
        last_error=f"{last.get('node')}: {last.get('message')}" if isinstance(last, dict) else "",
        revision=_int(result.get("revision")),
        passes=_int(result.get("passes")),
        load=ServiceLoad.from_status(result),
        instances=InstanceInfo.listed(result),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class SimSession(RuntimeSession):
    """The whole graph in this process, on the memory transport, with CPU mocks."""

    mode = RunMode.SIMULATE

    def __init__(self, registry: Registry, on_log: LogFn | None = None) -> None:
        super().__init__(registry, on_log)
        self.sim = Simulation(registry)
        self._probe_caller: SimulationCaller | None = None

    async def open(self) -> None:
        self.client = Client(self.sim.hub.connect(), actor="studio")

    def probe_caller(self) -> ProbeCaller:
        """Calls answered in process, samples heard on the memory hub."""
        if self._probe_caller is None:
            self._probe_caller = SimulationCaller(self.sim)
        return self._probe_caller

    async def load(self, graph: RunGraph) -> dict[str, CommandReply]:
        self.graph = await self.sim.load(graph)
        return {}  # applied in this process: no service was sent a command

    @property
    def running(self) -> bool:
        return bool(self.sim.running)

    def start(self) -> None:
        self.sim.start()

    def pause(self) -> None:
        self.sim.pause()

    async def step(self, ticks: int = 1) -> None:
        """Fire every exec source ``ticks`` times, one pass at a time, then flush the state."""
        await self.sim.step(ticks)

    def running_sources(self) -> list[str]:
        """Ids of the nodes whose own source loop (a Tick) runs now; none while paused."""
        return [
            node_id
            for host in self.sim.hosts.values()
            for node_id in host.bus.nodes
            if node_id in host.sources
        ]

    async def close(self) -> None:
        await super().close()
        await self.sim.stop()


class DeploySession(RuntimeSession):
    """Service processes over NATS; the embedded server and local processes on demand.

    It connects with the seed file ``creds``, else the one ``find_credentials`` finds
    (``$RUNGRAPH_CREDS``, then the local auth store's admin of ``namespace``), and asks the
    identity directory who that is (``connection``). A deploy its role may not make is refused
    here, before any service process is started or sent anything.

    With ``studio_store`` (and no URL), ``store_dir`` is a store of Studio's own
    (``store_isolation``): the server running with it is reused, else one is started on it, and
    Studio connects as its admin unless given ``creds``; ``store_note`` says which store.

    The service processes it starts write to ``log_dir`` (default: ``service-logs`` in the
    store, else a temporary folder) and can be left running when Studio quits
    (``leave_running``)."""

    mode = RunMode.DEPLOY

    def __init__(
        self,
        registry: Registry,
        url: str | None,
        store_dir: Path | None = None,
        on_log: LogFn | None = None,
        launch_missing: bool = True,
        use_mocks: bool = True,
        ready_timeout: float = 20.0,
        creds: Path | None = None,
        namespace: str | None = None,
        studio_store: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__(registry, on_log)
        self.requested_url = url
        self.studio_store = studio_store and url is None and store_dir is not None
        self.store_note = ""  # which store: "Studio store PATH", "external server" ...
        self.url: str | None = None
        self.store_dir = store_dir
        self.launch_missing = launch_missing
        self.use_mocks = use_mocks
        self.ready_timeout = ready_timeout
        self.server: NatsServer | None = None
        self.processes: dict[str, ServiceProcess] = {}
        # where started services write (None: a new temporary folder at the first launch)
        self.log_dir = log_dir or (store_dir / "service-logs" if store_dir else None)
        self._pumps: list[asyncio.Task[None]] = []
        self.revision = 0
        self.records: dict[str, ServiceRecord] = {}  # the last discovery, by service id
        self.creds = creds  # None: $RUNGRAPH_CREDS, else the local store's admin
        self.namespace = namespace or process_namespace()

    async def open(self) -> None:
        store = self.store_dir or default_store_dir()
        loop = asyncio.get_running_loop()
        # starting a server waits for it: off the event loop, so the window keeps painting
        running = running_server_url(store) if self.studio_store else None
        if running is not None:  # another Studio window's server on this store
            url = running
        else:
            url, self.server = await loop.run_in_executor(
                None, ensure_server, self.requested_url, store
            )
        self.url = url
        how = "started" if self.server else "reused"
        if self.studio_store:
            self.store_note = f"Studio store {store}"
        elif self.server is None:
            self.store_note, how = "external server", ""
        else:
            self.store_note = f"store {store}"
        note = ", ".join(x for x in (how, self.store_note) if x)
        self.on_log("studio", f"NATS at {url} ({note})", "INFO")
        try:
            if self.server is not None and self.server.auth is not None:
                # a server started here: the services learn who calls them from its directory
                await sync_directory_from_store(url, self.server.auth)
            self.client, self.connection = await self._connect(self.creds)
        except BaseException:
            await self._stop_server()  # refused credentials must not leave a server behind
            raise

    async def _connect(self, creds: Path | None) -> tuple[Client, Connection]:
        assert self.url is not None
        store = self.store_dir or default_store_dir()
        if self.studio_store and creds is None:
            found: Path | None = await store_admin(store, self.namespace)
        else:
            found = await find_credentials(creds, self.namespace, store)
        client = await Client.connect(self.url, actor="studio", connect_timeout_s=5.0,
                                      creds=found, namespace=self.namespace)
        try:
            identity = await client.whoami()
        except BaseException:
            await client.close()
            raise
        connection = connection_of(self.url, self.namespace, client.public_key, identity)
        how = f"with {found}" if found is not None else "without credentials"
        self.on_log("studio", f"connected to {self.url} {how} as {connection.label}", "INFO")
        return client, connection

    async def reconnect(self, creds: Path | None) -> None:
        """Connect again as the identity of ``creds`` (None: the usual search). The old
        connection is kept until the new one stands, so a refused file changes nothing; the
        service processes this session started keep running."""
        if self.client is None:
            raise RuntimeError("the deploy session is not open")
        client, connection = await self._connect(creds)
        old, self.client, self.connection, self.creds = self.client, client, connection, creds
        try:
            await asyncio.wait_for(old.close(), 5.0)
        except Exception as exc:  # noqa: BLE001 - the new connection stands; say so
            log.warning("closing the previous NATS connection: %s", exc)

    async def discover(self, timeout: float = 0.25) -> list[ServiceRecord]:  # noqa: ASYNC109
        return list(await self.client.discover(timeout)) if self.client else []

    def discovered_specs(self) -> list[dict[str, Any]]:
        return [r.spec for r in self.records.values() if r.spec]

    async def load(self, graph: RunGraph) -> dict[str, CommandReply]:
        if self.client is None:
            raise RuntimeError("the deploy session is not open")
        self._check_may_deploy(graph)
        self.graph = graph
        self.revision = max(self.revision, graph.revision) + 1
        sent = graph.model_copy(update={"revision": self.revision})
        try:
            if self.launch_missing:
                await self._launch_missing(graph)
            replies = await self.client.deploy(sent, self.registry)
        except DeployError as exc:
            outcomes: dict[str, Outcome] = dict(exc.replies)
            problems = [p for r in exc.replies.values() for p in _problems_of(r)]
            raise DeployRefused(outcomes, exc.rolled_back, problems) from exc
        except (ServiceUnavailable, RequestTooLarge) as exc:
            failed = CallFailed(exc.service_id, "set_rungraph", exc.code, exc.message)
            raise DeployRefused({exc.service_id: failed}, []) from exc
        # the deploy runs above every revision the services ran (revisions only grow)
        self.revision = max([self.revision, *(_int(r.result.get("revision")) or 0
                                               for r in replies.values()
                                               if r.ok and isinstance(r.result, dict))])
        return replies

    def _check_may_deploy(self, graph: RunGraph) -> None:
        """Raise DeployRefused (FORBIDDEN for each service) when this identity may not deploy:
        then nothing is launched and nothing is sent."""
        if self.connection is None:
            return
        refused: dict[str, Outcome] = {}
        for svc in graph.services:
            reason = self.connection.gate.refusal("set_rungraph", svc.serviceId)
            if reason is not None:
                refused[svc.serviceId] = CallFailed(
                    svc.serviceId, "set_rungraph", ErrorCode.FORBIDDEN, reason)
        if refused:
            raise DeployRefused(refused, [])

    async def _launch_missing(self, graph: RunGraph) -> None:
        assert self.client is not None
        assert self.url is not None
        running = {r.serviceId for r in await self.discover()}
        missing: dict[str, str] = {}  # service id: the class its process hosts
        for svc in graph.services:
            sid = svc.serviceId
            proc = self.processes.get(sid)
            if sid in running or (proc is not None and proc.returncode is None):
                continue
            cls = self.registry.service(svc.serviceClass, simulate=self.use_mocks)
            if cls is not None:  # else deploy's validation names it
                missing[sid] = cls.spec().className
        if not missing:
            return
        # each process connects as its own service identity of the local auth store (issued
        # and entered in the server's directory here when new); none without a store
        found = await asyncio.get_running_loop().run_in_executor(
            None, find_services_credentials, list(missing), self.namespace, self.store_dir,
            self.url)
        if self.log_dir is None:
            self.log_dir = Path(tempfile.mkdtemp(prefix="rungraph-services-"))
        for sid, class_name in missing.items():
            self.on_log("studio", f"starting service {sid} ({class_name})", "INFO")
            creds = found.get(sid) if found is not None else None
            proc = start_service(self.url, sid, class_name, self.log_dir, creds=creds,
                                 namespace=self.namespace)
            self.processes[sid] = proc
            pump = proc.follow(functools.partial(self.on_log, sid))
            self._pumps.append(asyncio.get_running_loop().create_task(pump))
        for proc in self.processes.values():
            await wait_up(self.client, proc, self.ready_timeout)

    def service_ids(self) -> list[str]:
        return list(dict.fromkeys([*super().service_ids(), *self.records]))

    async def status_rows(self) -> list[ServiceRow]:
        records = {r.serviceId: r for r in await self.discover()}
        self.records = records
        ids = list(dict.fromkeys([*super().service_ids(), *records]))
        outcomes = await asyncio.gather(*(self.call(sid, "status", timeout=1.5) for sid in ids))
        self._keep_status(ids, outcomes)
        return [
            row_from_status(sid, outcome, self.graph, records.get(sid))
            for sid, outcome in zip(ids, outcomes, strict=True)
        ]

    async def close(self) -> None:
        await super().close()
        self.connection = None
        for sid, proc in self.processes.items():
            if proc.returncode is None:
                self.on_log("studio", f"stopping service {sid}", "INFO")
                proc.terminate()
        for proc in self.processes.values():
            try:
                await proc.wait(10)
            except TimeoutError:
                proc.kill()
            proc.release()
        for pump in self._pumps:
            pump.cancel()
        self.processes.clear()
        await self._stop_server()

    def leave_running(self) -> LeftRunning:
        """Let go of the service processes and the nats-server this session started: Studio
        stops following their output, and ``close`` then only disconnects. What was left
        running, and where to find it again."""
        running = {sid: p.pid for sid, p in self.processes.items() if p.returncode is None}
        server_pid = self.server.pid if self.server is not None else None
        store = self.store_dir or default_store_dir()
        left = LeftRunning(url=self.url or "", services=running, server_pid=server_pid,
                           store_dir=store if server_pid or self.studio_store else None,
                           log_dir=self.log_dir)
        for pump in self._pumps:
            pump.cancel()
        for proc in self.processes.values():
            proc.release()
        self.processes.clear()
        if self.server is not None:
            atexit.unregister(self.server.stop)  # else it stops the server as Studio exits
            self.server = None
        return left

    async def _stop_server(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            await asyncio.get_running_loop().run_in_executor(None, server.stop)
