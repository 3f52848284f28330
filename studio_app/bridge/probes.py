"""Wire probes for Studio: the samples of a session's probes, coalesced onto the GUI thread.

A probe is the runtime's ``ProbeStream`` (``runtime.client.probe``): it subscribes, asks the
service, renews its lease and calls ``unprobe`` when it closes. Here its samples do not wait in
the stream's queue for a reader task (a wake-up per sample, 5000 a second for five probes at
1 kHz): each one goes straight into a bounded per-probe batch, and a refresh timer (~30 Hz) hands
every batch over at once as ``ProbeSet.on_batch(probe_id, samples)``. The runtime already rate
limits what it sends; this is what keeps the UI from repainting per message. Samples arrive on
the GUI thread: the session's connection (NATS or the memory hub) runs on the qasync loop.

The bridge (``SessionBridge``) owns one ``ProbeSet`` and turns its callbacks into Qt signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore

from runtime.client.probe import ProbeCaller, ProbeSample, ProbeStream
from runtime.protocol.graph import RunGraph
from runtime.transport.base import Msg

log = logging.getLogger(__name__)

BATCH_MAX = 1000
"""The most samples of one probe held between two refreshes; past it the oldest are dropped
(counted in ``ProbeInfo.lost``)."""
MAX_PROBES = 32
"""The most probes one Studio session runs (the services allow 64 each)."""
DEFAULT_RATE_HZ = 30.0
"""What a wire probe asks for unless told: the UI repaints at about this rate."""


@dataclass
class ProbeInfo:
    """One running probe: where it looks, and what Studio lost of it (the service's own rate
    limit is counted in each sample's ``dropped``)."""

    probe_id: str
    service_id: str
    node: str
    port: str
    kind: str
    max_rate_hz: float
    lost: int = 0
    malformed: int = 0

    @property
    def wire(self) -> str:
        return f"{self.node}.{self.port}"


class _CollectedStream(ProbeStream):
    """A ProbeStream whose samples go to ``sink`` as they arrive, not to its queue."""

    sink: Callable[[ProbeSample], None]
    on_malformed: Callable[[], None]

    async def _on_msg(self, msg: Msg) -> None:
        if self._closed:
            return
        try:
            sample = ProbeSample.from_json(msg.data)
        except ValueError as exc:
            self.on_malformed()
            log.warning("dropped a bad probe sample on %s: %s", msg.subject, exc)
            return
        self.sink(sample)


class ProbeSet(QtCore.QObject):
    """The probes of one session. ``on_batch(probe_id, samples)`` gets each probe's samples
    since the last refresh (oldest first), at most ``refresh_hz`` times a second."""

    def __init__(
        self,
        on_batch: Callable[[str, list[ProbeSample]], None],
        parent: QtCore.QObject | None = None,
        refresh_hz: float = 30.0,
    ) -> None:
        super().__init__(parent)
        self.on_batch = on_batch
        self.probes: dict[str, ProbeInfo] = {}
        self._streams: dict[str, ProbeStream] = {}
        self._pending: dict[str, list[ProbeSample]] = {}
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(1, int(1000 / refresh_hz)))
        self._timer.timeout.connect(self.flush)

    async def start(
        self, caller: ProbeCaller, service_id: str, node: str, port: str,
        max_rate_hz: float = DEFAULT_RATE_HZ,
    ) -> ProbeInfo:
        """Start a probe of ``node``'s output ``port`` in ``service_id``. Raises ProbeRefused
        (the service said no, naming why), a client error (nobody answered) or RuntimeError
        (too many probes)."""
        if len(self._streams) >= MAX_PROBES:
            raise RuntimeError(
                f"cannot probe {node}.{port}: {MAX_PROBES} probes run already; remove one first")
        stream = _CollectedStream(caller, service_id, node, port, max_rate_hz=max_rate_hz)
        info = ProbeInfo(stream.probe_id, service_id, node, port, "data", max_rate_hz)
        stream.sink = lambda sample: self._take(info, sample)
        stream.on_malformed = lambda: setattr(info, "malformed", info.malformed + 1)
        self.probes[info.probe_id] = info
        self._streams[info.probe_id] = stream
        try:
            await stream.start()
        except BaseException:
            self._forget(info.probe_id)
            raise
        info.kind = str(stream.info.get("kind") or info.kind)
        return info

    def _take(self, info: ProbeInfo, sample: ProbeSample) -> None:
        batch = self._pending.setdefault(info.probe_id, [])
        if len(batch) >= BATCH_MAX:
            del batch[: len(batch) - BATCH_MAX + 1]
            info.lost += 1
        batch.append(sample)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Hand every pending batch over (the refresh timer calls it)."""
        pending, self._pending = self._pending, {}
        for probe_id, samples in pending.items():
            if probe_id in self.probes and samples:
                self.on_batch(probe_id, samples)

    async def stop(self, probe_id: str) -> bool:
        """Stop one probe (the service is told); False when it was not running."""
        stream = self._streams.get(probe_id)
        if stream is None:
            return False
        self._forget(probe_id)
        await self._close(stream)
        return True

    async def stop_all(self) -> list[str]:
        """Stop every probe (the session ends); the ids stopped."""
        ids = list(self._streams)
        streams = [self._streams[i] for i in ids]
        for probe_id in ids:
            self._forget(probe_id)
        for stream in streams:
            await self._close(stream)
        return ids

    def _forget(self, probe_id: str) -> None:
        self._streams.pop(probe_id, None)
        self.probes.pop(probe_id, None)
        self._pending.pop(probe_id, None)

    @staticmethod
    async def _close(stream: ProbeStream) -> None:
        try:
            await stream.aclose()
        except Exception as exc:  # noqa: BLE001 - a closed connection; the lease ends it anyway
            log.warning("stopping probe %s on %s.%s.%s: %s", stream.probe_id, stream.service_id,
                        stream.node, stream.port, exc)


def service_of(graph: RunGraph | None, node_id: str) -> str:
    """The service that runs ``node_id`` in a RunGraph; raises LookupError naming the node."""
    for node in graph.nodes if graph is not None else []:
        if node.nodeId == node_id:
            return node.serviceId
    raise LookupError(f"cannot probe {node_id!r}: the running graph has no node {node_id!r}")


def node_passes_of(statuses: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Every node's pass count from the services' ``status`` results (``nodePasses``)."""
    out: dict[str, int] = {}
    for result in statuses.values():
        passes = result.get("nodePasses")
        if isinstance(passes, Mapping):
            out.update({str(k): v for k, v in passes.items()
                        if isinstance(v, int) and not isinstance(v, bool)})
    return out
