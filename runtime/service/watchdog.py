"""A time budget for an operator's synchronous ``compute`` and ``on_exec``.

Python cannot stop a function from outside, and an operator runs on the service's event loop: a
``compute`` that never returns would hold every command, every other node and SIGTERM for good.
So the executor marks the call that runs (``enter``/``leave``, two attribute writes) and, in a
service process, a periodic ``SIGALRM`` looks at the mark: a call older than its node's
``time_budget_s`` gets ``BudgetExceeded`` raised inside it, between two of its bytecodes (or
when the system call it waits in returns). The executor isolates that like any other exception:
it is recorded on the node, the pass goes on, and the service keeps answering.

Where no alarm is installed (Simulate inside Studio, tests) a call that ran over its budget is
still reported on its node when it returns; only a call that never returns cannot be stopped
there. A budget stops pure Python code and system calls Python retries; a C extension that
never returns to Python is not stopped.
"""

from __future__ import annotations

import signal
import threading
import time
from types import CodeType, FrameType
from typing import Any

DEFAULT_BUDGET_S = 1.0
"""How long one ``compute`` or ``on_exec`` call may run (``Node.time_budget_s``)."""
TICK_S = 0.1
"""How often the alarm looks at the running call."""


class BudgetExceeded(Exception):
    """A node's ``compute`` or ``on_exec`` ran past its time budget and was stopped."""


class Watchdog:
    """The mark of the call that runs: ``(node_id, started, budget)`` or None."""

    def __init__(self) -> None:
        self.running: tuple[str, float, float] | None = None
        self._installed = False
        self._previous: Any = signal.SIG_DFL
        self._previous_timer: tuple[float, float] = (0.0, 0.0)
        self.shielded: set[CodeType] = set()
        """Code the alarm never raises in: the executor's, which sets and clears the mark and
        handles the node's exceptions (raising there could escape its ``except``)."""

    def enter(self, node_id: str, budget: float) -> tuple[str, float, float] | None:
        """Mark ``node_id``'s call as running; returns the mark it replaces (a nested call's
        caller), for ``leave``."""
        outer = self.running
        self.running = (node_id, time.monotonic(), budget)
        return outer

    def leave(self, outer: tuple[str, float, float] | None) -> float:
        """End the running call's mark; how far over its budget it ran (<= 0: within)."""
        mark, self.running = self.running, outer
        if mark is None:
            return 0.0
        return time.monotonic() - mark[1] - mark[2]

    # -- the alarm ------------------------------------------------------------------------------
    def install(self) -> bool:
        """Start the alarm (main thread of a process only; returns whether it runs)."""
        if self._installed or threading.current_thread() is not threading.main_thread():
            return self._installed
        self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._previous_timer = signal.setitimer(signal.ITIMER_REAL, TICK_S, TICK_S)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Stop the alarm and give ``SIGALRM`` back to whoever had it."""
        if self._installed:
            signal.setitimer(signal.ITIMER_REAL, *self._previous_timer)
            signal.signal(signal.SIGALRM, self._previous)
            self._installed = False

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        mark = self.running
        if mark is None or (frame is not None and frame.f_code in self.shielded):
            return  # nothing runs, or the executor's own bookkeeping: look again next tick
        node_id, started, budget = mark
        ran = time.monotonic() - started
        if ran > budget:
            self.running = None  # raised once; the executor's leave() restores the outer mark
            raise BudgetExceeded(f"ran {ran:.2f}s, past its time budget of {budget:g}s; "
                                 "stopped")


WATCHDOG = Watchdog()
"""One per process: signals reach the process, and its executors run on one thread."""
