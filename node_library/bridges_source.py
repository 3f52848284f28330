"""What the bridge sources share: they hold an outside resource (a subscription, a socket, an
open file) only while their service is active, and open it anew when a setting changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from runtime import SourceContext


class ActiveGate:
    """Whether the node's service is active (set by its ``on_activate``/``on_deactivate``),
    and a wake-up whenever that or one of the node's settings changes."""

    def __init__(self) -> None:
        self.active = False
        self._changed = asyncio.Event()
        self._on = asyncio.Event()

    def set_active(self, active: bool) -> None:
        self.active = active
        if active:
            self._on.set()
        else:
            self._on.clear()
        self._changed.set()

    def restart(self) -> None:
        """A setting changed: the open session is closed and, while active, opened anew."""
        self._changed.set()

    async def wait_active(self) -> None:
        await self._on.wait()

    def clear(self) -> None:
        """Forget the changes so far (a session is about to open with the current settings)."""
        self._changed.clear()

    async def wait_changed(self) -> None:
        await self._changed.wait()
        self._changed.clear()


async def run_while_active(gate: ActiveGate, ctx: SourceContext,
                           session: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``session`` (which opens the resource, serves it, and closes it when cancelled)
    while the service is active; restart it when a setting changes. A session that fails is
    recorded on the node and tried again only after the next change."""
    loop = asyncio.get_running_loop()
    while True:
        await gate.wait_active()
        gate.clear()
        task = loop.create_task(session())
        waiter = loop.create_task(gate.wait_changed())
        try:
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            task.cancel()
            waiter.cancel()
            await asyncio.gather(task, waiter, return_exceptions=True)
        if waiter in done:
            continue  # deactivated or reconfigured: wait until active, then open anew
        error = None if task.cancelled() else task.exception()
        if error is not None:
            ctx.report(error)
        await gate.wait_changed()
