"""The receiving end of a cross-service data edge (``RemoteInput``): the values that arrived,
buffered until a pass pulls one. Split from ``executor.py``, which re-exports it."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from runtime.service.stats import EdgeTiming

if TYPE_CHECKING:
    from runtime.service.executor import Pass

QUEUE_MAX_BYTES = 8 * 1024 * 1024
"""The most bytes one queue-strategy data edge holds, beside its ``queueSize`` count; each value
weighs what its data message weighed on arrival."""


class RemoteInput:
    """The receiving end of a cross-service data edge: buffers values until a pass pulls one.

    A queue holds at most ``size`` values and ``max_bytes`` bytes: past either bound the oldest
    values are dropped, and a value heavier than ``max_bytes`` alone is dropped on arrival; every
    drop is counted in ``dropped``. Messages that do not decode are counted in ``undecodable``
    (``problem`` says what the last one was). ``status`` shows these per edge."""

    __slots__ = ("key", "strategy", "size", "latest", "queue", "dropped", "received", "default",
                 "max_bytes", "sizes", "bytes", "source", "undecodable", "problem", "timing")

    def __init__(self, key: tuple[str, str], strategy: str, size: int, default: Any,
                 max_bytes: int = QUEUE_MAX_BYTES, source: str = ""):
        self.key, self.strategy, self.size, self.default = key, strategy, size, default
        self.max_bytes, self.source = max_bytes, source
        self.latest: Any = default
        self.queue: deque[Any] = deque()
        self.sizes: deque[int] = deque()  # the weight of each queued value, in order
        self.bytes = 0  # what the queue holds (latest: the weight of the newest value)
        self.dropped = 0
        self.received = 0
        self.undecodable = 0
        self.problem = ""
        self.timing = EdgeTiming()  # its messages' rate and latency, for ``stats``

    def admits(self, weight: int) -> bool:
        """Whether a value of ``weight`` bytes can be held at all. One that cannot (heavier than
        a queue's ``max_bytes``) is counted as received and dropped here, so it need not be
        decoded."""
        if self.strategy == "queue" and weight > self.max_bytes:
            self.received += 1
            self.dropped += 1
            return False
        return True

    def push(self, value: Any, weight: int = 0) -> None:
        """Take a value that arrived in a message of ``weight`` bytes."""
        if not self.admits(weight):
            return
        self.received += 1
        if self.strategy != "queue":
            self.latest, self.bytes = value, weight
            return
        self.latest = value
        while self.queue and (len(self.queue) >= self.size
                              or self.bytes + weight > self.max_bytes):
            self.queue.popleft()
            self.bytes -= self.sizes.popleft()
            self.dropped += 1
        self.queue.append(value)
        self.sizes.append(weight)
        self.bytes += weight

    def reject(self, problem: str) -> int:
        """Count a message that did not decode; how many did so far."""
        self.undecodable += 1
        self.problem = problem[:200]
        return self.undecodable

    @property
    def depth(self) -> int:
        """How many values wait to be read (latest: one, once a value has arrived)."""
        return len(self.queue) if self.strategy == "queue" else min(self.received, 1)

    def read(self, pass_: Pass) -> Any:
        cached = pass_.remote.get(self.key, _MISSING)
        if cached is not _MISSING:
            return cached
        if self.strategy == "queue":
            if self.queue:
                value = self.queue.popleft()
                self.bytes -= self.sizes.popleft()
            else:
                value = self.default
        else:
            value = self.latest
        pass_.remote[self.key] = value
        return value


_MISSING = object()
