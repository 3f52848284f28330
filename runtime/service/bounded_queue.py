"""A bounded queue of received messages, and ``QueuedStream``, a subscription read through one
as an async iterator: the base of ``EventStream`` (events of a service) and ``SubjectStream``
(any subject, for bridges).

Past ``maxsize`` items or ``max_bytes`` the oldest are dropped and counted (``dropped``), so a
fast publisher never grows the reader's memory; an item heavier than ``max_bytes`` on its own
is dropped at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Self, TypeVar

from runtime.transport.base import Msg, Subscription, Transport

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    def __init__(self, maxsize: int, max_bytes: int, what: str = "queue") -> None:
        if maxsize < 1 or max_bytes < 1:
            raise ValueError(f"a {what} holds at least one item and one byte")
        self.maxsize, self.max_bytes = maxsize, max_bytes
        self.dropped = 0
        self.closed = False
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def fits(self, weight: int) -> bool:
        """Whether an item of ``weight`` bytes can be held at all (else it counts as dropped)."""
        if weight > self.max_bytes:
            self.dropped += 1
            return False
        return True

    def push(self, item: T, weight: int) -> None:
        """Add ``item`` (its size ``weight``), dropping the oldest to make room."""
        if self.closed:
            return
        while self._items and (len(self._items) >= self.maxsize
                               or self._bytes + weight > self.max_bytes):
            self._bytes -= self._items.popleft()[1]
            self.dropped += 1
        self._items.append((item, weight))
        self._bytes += weight
        self._ready.set()

    async def get(self) -> T:
        """The oldest item, waiting for one; ``StopAsyncIteration`` once closed."""
        while not self._items and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        if self.closed:
            raise StopAsyncIteration
        item, weight = self._items.popleft()
        self._bytes -= weight
        return item

    def close(self) -> None:
        """End the iteration now; what waits is dropped."""
        self.closed = True
        self._items.clear()
        self._bytes = 0
        self._ready.set()


class QueuedStream(Generic[T]):
    """One subscription read as an async iterator over a ``BoundedQueue``: it subscribes on
    first use (or ``start()``; ``async with`` does), ``close()`` ends the iteration and
    ``aclose()`` also unsubscribes. A subclass turns each message into an item in ``_on_msg``
    (``self._queue.push``) and may refuse the subject in ``_check`` before subscribing."""

    def __init__(self, transport: Transport, subject: str, maxsize: int, max_bytes: int,
                 what: str) -> None:
        self._queue: BoundedQueue[T] = BoundedQueue(maxsize, max_bytes, what)
        self.transport, self.maxsize, self.max_bytes = transport, maxsize, max_bytes
        self._subject = subject
        self._sub: Subscription | None = None

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    @property
    def depth(self) -> int:
        """Items waiting to be read."""
        return len(self._queue)

    def _check(self) -> None:
        """Raise when this stream may not subscribe (nothing by default)."""

    async def _on_msg(self, msg: Msg) -> None:
        raise NotImplementedError

    async def start(self) -> Self:
        """Subscribe now (what was published before is not seen)."""
        if self._sub is None and not self._queue.closed:
            self._check()
            self._sub = await self.transport.subscribe(self._subject, self._on_msg)
        return self

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._sub is None:
            await self.start()
        return await self._queue.get()

    def close(self) -> None:
        """End the iteration now (what waits is dropped); ``aclose`` also unsubscribes."""
        self._queue.close()

    async def aclose(self) -> None:
        self.close()
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.unsubscribe()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
