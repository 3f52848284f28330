"""Lifecycle hooks that may be ``async def``: how a service calls them and awaits them.

A sync hook is called where it always was and costs what it always did: the call's result is
looked at only when it is not None. A hook that returns an awaitable (``async def on_create``)
is awaited for at most its node's ``hook_timeout_s``; one that raises or runs over is recorded on
its node like a failing sync hook, and the service runs on.

Where the caller is async (``set_active``, an exec pass, the start) the hook is awaited there.
Where the caller is sync (creating and destroying nodes during an apply, ``on_state`` from a state
write) it runs in a task, chained after the node's earlier async hooks, so one node's hooks run
one at a time in the order they were called (``on_destroy`` never overtakes ``on_create``); the
host waits for them (``settle``) before it answers the apply, before it says it is ready, and
when it stops; ``set_state`` answers once the node's ``on_state`` has run. At most
``MAX_PENDING_HOOKS`` wait at once; one more is refused and recorded.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from runtime.component import Node

if TYPE_CHECKING:
    from runtime.service.bus import ServiceBus

log = logging.getLogger(__name__)

MAX_PENDING_HOOKS = 1000
"""The most async hooks of one service that may wait to run at once."""
STOP_HOOKS_TIMEOUT_S = 5.0
"""How long a stopping service waits for its async ``on_deactivate``/``on_destroy`` hooks in
all; those still running then are cancelled."""


class HookTimeout(TimeoutError):
    """An async lifecycle hook ran past its node's ``hook_timeout_s`` and was cancelled."""


class StartError(RuntimeError):
    """A service's start hook (``@async_on_start`` or ``on_start``) failed: the start fails."""


class HookRunner:
    """Calls one service's lifecycle hooks, awaiting the async ones within their bound."""

    def __init__(self, bus: ServiceBus) -> None:
        self.bus = bus
        self._last: dict[str, asyncio.Task[None]] = {}
        """Each node's last pending async hook: the next one of that node waits for it."""
        self._pending: set[asyncio.Task[None]] = set()

    def call(self, node: Node, hook: str, *args: Any, ctx_id: int | None = None) -> None:
        """Call ``node.<hook>(*args)`` from sync code: a failure is recorded; an async hook
        runs in a task after the node's earlier ones."""
        pending = self.start(node, hook, *args, ctx_id=ctx_id)
        if pending is not None:
            self.later(node, hook, pending, ctx_id)

    async def run(self, node: Node, hook: str, *args: Any, ctx_id: int | None = None) -> None:
        """Call ``node.<hook>(*args)`` and await it when it is async (after the node's pending
        hooks); a failure is recorded, never raised."""
        pending = self.start(node, hook, *args, ctx_id=ctx_id)
        if pending is None:
            return
        task = self.later(node, hook, pending, ctx_id)  # in the node's order, also for later ones
        if task is not None:
            await asyncio.wait({task})  # the caller cancelled: the hook still ends in its bound

    def start(self, node: Node, hook: str, *args: Any,
              ctx_id: int | None = None) -> Awaitable[Any] | None:
        """Call the hook; what is left to await of it (None for a sync hook, or one that
        raised: that is recorded)."""
        try:
            result = getattr(node, hook)(*args)
        except Exception as exc:  # noqa: BLE001 - a failing hook is recorded, not fatal
            self.bus.record_error(node.node_id, hook, exc, ctx_id)
            return None
        if result is None or not inspect.isawaitable(result):
            return None
        return result

    async def finish(self, node: Node, hook: str, pending: Awaitable[Any],
                     ctx_id: int | None = None) -> None:
        """Await what an async hook returned, for at most the node's ``hook_timeout_s``; a
        failure or an overrun is recorded on the node (a value that is not awaitable: done)."""
        if not inspect.isawaitable(pending):
            return
        limit = node.hook_timeout_s
        bound = asyncio.timeout(limit)
        try:
            async with bound:
                await pending
        except TimeoutError as exc:
            error: Exception = exc  # the hook's own TimeoutError: a failure like any other
            if bound.expired():
                error = HookTimeout(f"{hook} ran past its {limit:g}s (hook_timeout_s); "
                                    "cancelled")
            self.bus.record_error(node.node_id, hook, error, ctx_id)
        except Exception as exc:  # noqa: BLE001 - a failing hook is recorded, not fatal
            self.bus.record_error(node.node_id, hook, exc, ctx_id)

    def later(self, node: Node, hook: str, pending: Any,
              ctx_id: int | None = None) -> asyncio.Task[None] | None:
        """Await ``pending`` (what a hook returned; nothing to do unless it is awaitable) in a
        task, after the node's earlier async hooks; the task, or None when none was made."""
        if not inspect.isawaitable(pending):
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or len(self._pending) >= MAX_PENDING_HOOKS:
            _discard(pending)
            why = ("no event loop runs" if loop is None else
                   f"{MAX_PENDING_HOOKS} async hooks of this service are waiting already")
            self.bus.record_error(node.node_id, hook, RuntimeError(
                f"async {hook} not run: {why}"), ctx_id)
            return None
        node_id, before = node.node_id, self._last.get(node.node_id)

        async def chained() -> None:
            if before is not None:
                await asyncio.wait({before})
            await self.finish(node, hook, pending, ctx_id)

        task = loop.create_task(chained())
        self._last[node_id] = task
        self._pending.add(task)
        task.add_done_callback(lambda done: self._done(node_id, done))
        return task

    def _done(self, node_id: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._last.get(node_id) is task:
            del self._last[node_id]

    @property
    def pending(self) -> int:
        """How many async hooks wait or run now."""
        return len(self._pending)

    async def settle(self) -> None:
        """Wait until every async hook called so far has ended (each is bounded by its
        node's ``hook_timeout_s``); hooks they call meanwhile are waited for too."""
        for _ in range(MAX_PENDING_HOOKS):
            if not self._pending:
                return
            await asyncio.wait(set(self._pending))

    async def settle_node(self, node_id: str) -> None:
        """Wait until the async hooks of one node called so far have ended."""
        for _ in range(MAX_PENDING_HOOKS):
            last = self._last.get(node_id)
            if last is None:
                return
            await asyncio.wait({last})

    def cancel_all(self) -> None:
        """Cancel every async hook still pending (the service stops)."""
        for task in list(self._pending):
            task.cancel()


def _discard(pending: Awaitable[Any]) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning for it)."""
    if inspect.iscoroutine(pending):
        pending.close()


async def run_start_hooks(hooks: list[tuple[str, Callable[[], Any]]], service_id: str,
                          timeout_s: float) -> None:
    """Run a service's start hooks in order, awaiting the async ones, all within ``timeout_s``;
    the first that raises or the bound ends the start with ``StartError``."""
    current = ""
    bound = asyncio.timeout(timeout_s)
    try:
        async with bound:
            for name, hook in hooks:
                current = name
                result = hook()
                if inspect.isawaitable(result):
                    await result
    except TimeoutError as exc:
        if not bound.expired():  # the hook's own TimeoutError
            raise StartError(f"service {service_id}: start hook {current} failed: "
                             f"TimeoutError: {exc}") from exc
        raise StartError(f"service {service_id}: start hook {current} did not end within "
                         f"{timeout_s:g}s (start_timeout_s)") from None
    except Exception as exc:
        raise StartError(f"service {service_id}: start hook {current} failed: "
                         f"{type(exc).__name__}: {exc}") from exc

