"""State history: a JetStream stream per service that keeps every change of its node state for a
window, beyond the KV bucket's per-key history (``KV_HISTORY`` revisions).

The stream ``HIST_svc_{sid}`` has no subjects of its own: it *sources* the bucket's stream
``KV_svc_{sid}``, filtered to the node state keys (``$KV.svc_{sid}.nodes.*.state.>``), so
JetStream copies each put, delete and purge there with the key's subject, headers and value
(``{value, ts, actor, origin}``). It keeps them for ``window_s`` (default 24 h) and at most
``max_bytes`` (default 256 MiB; the oldest go first), file storage, with the bucket's replicas.
Direct gets are on, so readers (``runtime.client.history``) page through it without a consumer.

A service makes it at start (``ensure_history``): created when missing, updated when its limits
differ, left alone otherwise. History is optional: a server that refuses, or a secured server
where only the keeper makes streams (``runtime.auth.roles``), leaves the service running with
history off, said once in the log. Copying is asynchronous: a change shows in the history a few
milliseconds after it is in KV, and a burst of more than ``KV_HISTORY`` writes of one key
faster than the server copies them can lose the ones the bucket dropped in between.

Configuration: ``RUNGRAPH_HISTORY_WINDOW`` (``90m``, ``24h``, ``2d`` or seconds; ``0`` turns
history off) and ``RUNGRAPH_HISTORY_MAX_BYTES`` (bytes, or ``256MiB`` / ``1GiB``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.js.api import DiscardPolicy, StorageType, StreamConfig, StreamSource

from runtime.auth.roles import history_stream
from runtime.protocol import naming
from runtime.transport.base import Transport

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

WINDOW_ENV = "RUNGRAPH_HISTORY_WINDOW"
MAX_BYTES_ENV = "RUNGRAPH_HISTORY_MAX_BYTES"
DEFAULT_WINDOW_S = 24 * 3600.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
MIN_MAX_BYTES = 64 * 1024
SETUP_TIMEOUT_S = 5.0
ATTACH_WAIT_S = 3.0
"""How long a new history stream's start waits for its source to be copying (about 0.1 s)."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kib|mib|gib|kb|mb|gb)?\s*$", re.IGNORECASE)
_UNIT_B = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2,
           "gb": 1000**3}


def state_subject(service_id: str, node: str = "*", field: str = ">") -> str:
    """The subject of a node state key in the bucket's (and the history's) stream; ``*`` and
    ``>`` as wildcards."""
    return f"$KV.{naming.bucket_name(service_id)}.nodes.{node}.state.{field}"


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``500ms``, ``10m``, ``2h``, ``1d``; ValueError naming the text."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: write a number with ms, s, m, h or d")
    return float(match.group(1)) * _UNIT_S[(match.group(2) or "s").lower()]


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``256MiB``, ``1GiB``; ValueError naming the text."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"invalid size {text!r}: write bytes, or a number with KiB, MiB or GiB")
    return int(match.group(1)) * _UNIT_B[(match.group(2) or "b").lower()]


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """How long and how much history a service keeps (``window_s`` 0: none)."""

    window_s: float = DEFAULT_WINDOW_S
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> HistoryConfig:
        """From ``RUNGRAPH_HISTORY_WINDOW`` and ``RUNGRAPH_HISTORY_MAX_BYTES`` (ValueError
        naming the variable when one is malformed)."""
        env = os.environ if environ is None else environ
        window, size = env.get(WINDOW_ENV), env.get(MAX_BYTES_ENV)
        try:
            window_s = DEFAULT_WINDOW_S if not window else parse_duration(window)
        except ValueError as exc:
            raise ValueError(f"{WINDOW_ENV}: {exc}") from None
        try:
            max_bytes = DEFAULT_MAX_BYTES if not size else parse_size(size)
        except ValueError as exc:
            raise ValueError(f"{MAX_BYTES_ENV}: {exc}") from None
        return cls(window_s, max(MIN_MAX_BYTES, max_bytes))

    @property
    def enabled(self) -> bool:
        return self.window_s > 0


class HistoryOutcome(StrEnum):
    """What ``ensure_history`` did."""

    CREATED = "created"
    UPDATED = "updated"
    EXISTS = "exists"
    OFF = "off"
    """History is off by configuration, or the transport has no JetStream (a simulation)."""
    REFUSED = "refused"
    """The server refused (or, secured, this identity may not make streams and none exists)."""


def stream_config(service_id: str, config: HistoryConfig, replicas: int) -> StreamConfig:
    """The history stream's configuration (see the module)."""
    bucket = naming.bucket_name(service_id)
    return StreamConfig(
        name=history_stream(service_id),
        description=f"state history of service {service_id}",
        sources=[StreamSource(name=f"KV_{bucket}", filter_subject=state_subject(service_id))],
        max_age=config.window_s,
        max_bytes=config.max_bytes,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        num_replicas=replicas,
        allow_direct=True,
    )


async def ensure_history(transport: Transport, service_id: str, replicas: int,
                         config: HistoryConfig | None = None, *,
                         create: bool | None = None) -> HistoryOutcome:
    """Make service ``service_id``'s history stream exist with ``config``'s limits (see the
    module). Never raises for a refusal: it logs it and says ``REFUSED``. ``create``: whether
    this connection may make or change the stream (None: unless it has an identity; the
    namespace's keeper passes True)."""
    from runtime.transport.nats import NatsTransport

    if config is None:
        try:
            config = HistoryConfig.from_env()
        except ValueError as exc:
            log.warning("service %s: no state history: %s", service_id, exc)
            return HistoryOutcome.OFF
    if not config.enabled or not isinstance(transport, NatsTransport):
        return HistoryOutcome.OFF
    name = history_stream(service_id)
    wanted = stream_config(service_id, config, replicas)
    js = transport.nc.jetstream(timeout=SETUP_TIMEOUT_S)
    try:
        try:
            info = await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            info = None
        if not (transport.public_key is None if create is None else create):
            # secured: only the keeper makes or changes streams; a request the server's
            # permissions drop would only time out
            if info is None:
                log.warning("service %s: no state history: stream %s is missing and, with "
                            "authentication on, only the namespace's keeper makes it",
                            service_id, name)
                return HistoryOutcome.REFUSED
            return HistoryOutcome.EXISTS
        if info is None:
            await js.add_stream(wanted)
            await _attached(js, name)
            log.info("service %s: state history kept in %s (%gs, %d bytes, %d replica(s))",
                     service_id, name, config.window_s, config.max_bytes, replicas)
            return HistoryOutcome.CREATED
        have = info.config
        same_age = abs((have.max_age or 0) - config.window_s) < 0.001
        if same_age and have.max_bytes == wanted.max_bytes:
            return HistoryOutcome.EXISTS
        # the replicas of an existing stream are left as they are (as a bucket's are)
        wanted.num_replicas = have.num_replicas
        await js.update_stream(wanted)
        log.info("service %s: state history %s now keeps %gs, %d bytes", service_id, name,
                 config.window_s, config.max_bytes)
        return HistoryOutcome.UPDATED
    except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
        log.warning("service %s: no state history: the server refused stream %s (%r); the "
                    "service runs on without it", service_id, name, exc)
        return HistoryOutcome.REFUSED


async def _attached(js: JetStreamContext, name: str) -> None:
    """Wait (within ``ATTACH_WAIT_S``) until stream ``name``'s source copies: the writes the
    service makes next are copied from the first on, not only the bucket's last few per key."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ATTACH_WAIT_S
    while loop.time() < deadline:
        info = await js.stream_info(name)
        if all((source.active or -1) >= 0 for source in info.sources or []):
            return
        await asyncio.sleep(0.02)
    log.info("state history %s: its source is not copying yet after %gs", name, ATTACH_WAIT_S)
