"""Timing operators: Trigger, Debounce, Throttle (exec timing) and Interval, Cron, Once (sources).

Every fire that comes later than the exec that caused it (Trigger's ``done``, Debounce's quiet
fire, Throttle's trailing fire) and every timer fire starts a new exec pass from the node's own
``run_source`` loop: it runs only while the service is active, stops when the node is destroyed
(the loop's task is cancelled, its timers with it), and a deactivate drops the pending ones.
Times are read from ``clock`` (seconds; the event loop's clock unless a test sets another).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from node_library.cron import CronText, ZoneName, parse, zone
from node_library.flow import Schedule
from runtime import (
    DataIn,
    DataOut,
    ExecContext,
    ExecIn,
    ExecOut,
    Inputs,
    Operator,
    SourceContext,
    State,
)

MAX_MS = 86_400_000
"""The longest duration, interval or quiet time: one day."""
CRON_NAP_S = 30.0
"""Cron re-reads the wall clock at least this often while it waits (clock changes, suspend)."""


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def _settle(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


class Waker:
    """A sleep that a ``poke`` cuts short (a poke made before the sleep is kept for it)."""

    __slots__ = ("_future", "_poked")

    def __init__(self) -> None:
        self._future: asyncio.Future[bool] | None = None
        self._poked = False

    def poke(self) -> None:
        self._poked = True
        if self._future is not None and not self._future.done():
            self._future.set_result(True)

    async def sleep(self, delay: float | None) -> bool:
        """Sleep ``delay`` seconds (until poked, when None); True when poked."""
        if self._poked:
            self._poked = False
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._future = future
        timer = None if delay is None else loop.call_later(max(0.0, delay), _settle, future)
        try:
            woken = await future
        finally:
            if timer is not None:
                timer.cancel()
            self._future = None
        if self._poked:  # poked while it slept (or just as its timer went off)
            self._poked = False
            return True
        return woken


class Alarm:
    """One pending deadline (in ``clock`` seconds), set, moved or cleared from ``on_exec``;
    ``ring`` returns when it passes."""

    __slots__ = ("clock", "due", "_waker")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.due: float | None = None
        self._waker = Waker()

    def set(self, due: float) -> None:
        self.due = due
        self._waker.poke()

    def clear(self) -> None:
        self.due = None
        self._waker.poke()

    async def ring(self) -> None:
        while True:
            due = self.due
            if due is not None and self.clock() >= due:
                self.due = None
                return
            await self._waker.sleep(None if due is None else due - self.clock())


class _Delayed(Operator):
    """Base of the operators that fire ``pin`` later, from their source loop."""

    delayed_pin: ClassVar[str] = "out"

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self.alarm = Alarm(lambda: self.clock())
        self._value: Any = None

    def on_create(self) -> None:
        if self.clock is loop_time:  # bound once: loop_time looks the running loop up each call
            with contextlib.suppress(RuntimeError):  # no running loop: loop_time it stays
                self.clock = asyncio.get_running_loop().time

    def on_deactivate(self) -> None:
        self.alarm.clear()

    def compute(self, inputs: Inputs) -> Any:
        return self._value

    def rang(self) -> bool:
        """The alarm went off: whether to fire ``delayed_pin`` now."""
        return True

    async def run_source(self, ctx: SourceContext) -> None:
        while True:
            await self.alarm.ring()
            if self.rang() and ctx.active:
                await ctx.trigger(self.delayed_pin)


Retrigger = Literal["restart", "extend", "ignore"]


class Trigger(_Delayed):
    """On an exec, fires ``out`` at once and ``done`` ``durationMs`` later (a new pass);
    ``running`` is true in between. An exec that comes while it runs follows ``retrigger``:
    restart (fires ``out`` again and restarts the duration), extend (restarts the duration
    only) or ignore (is dropped). ``reset`` cancels a pending ``done``. ``value`` holds the
    value of the exec that started it."""

    class_name = "timing.trigger"
    label = "Trigger"
    category = "timing"
    delayed_pin = "done"
    in_ = ExecIn(name="in", doc="start (or retrigger)")
    reset = ExecIn(doc="cancel the pending done")
    out = ExecOut(doc="fires at once on an exec that starts it")
    done = ExecOut(doc="fires durationMs later, as a new pass")
    input_value = DataIn(Any, None, name="value", doc="taken when it starts")
    held = DataOut(Any, doc="the value taken when it started")
    durationMs = State(int, 1000, ge=0, le=MAX_MS, show=True, doc="time from out to done")
    retrigger = State(Retrigger, "restart", show=True, doc="what an exec does while it runs")
    running = State(bool, False, access="ro", show=True, doc="between out and done")

    def on_create(self) -> None:
        super().on_create()
        if self.running:  # restored from before a restart: its done went with that process
            self.running = False

    def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        if pin == "reset":
            self.alarm.clear()
            if self.running:
                self.running = False
            return None
        busy = self.alarm.due is not None
        if busy and self.retrigger == "ignore":
            return None
        self.alarm.set(self.clock() + self.durationMs / 1000)
        if busy and self.retrigger == "extend":
            return None
        self._value = ctx.input("value")
        if not self.running:
            self.running = True
        return "out"

    def rang(self) -> bool:
        self.running = False
        return True

    def on_deactivate(self) -> None:
        super().on_deactivate()
        if self.running:
            self.running = False


class Debounce(_Delayed):
    """Fires ``out`` (a new pass) once ``quietMs`` went by without a new exec: a burst of execs
    becomes one fire, ``quietMs`` after the last; ``value`` holds that last exec's value."""

    class_name = "timing.debounce"
    label = "Debounce"
    category = "timing"
    in_ = ExecIn(name="in")
    out = ExecOut(doc="fires quietMs after the last exec of a burst, as a new pass")
    input_value = DataIn(Any, None, name="value", doc="taken at each exec")
    held = DataOut(Any, doc="the value of the last exec")
    quietMs = State(int, 200, ge=1, le=MAX_MS, show=True, doc="quiet time that ends a burst")

    def on_exec(self, pin: str, ctx: ExecContext) -> None:
        self._value = ctx.input("value")
        self.alarm.set(self.clock() + self.quietMs / 1000)


ThrottleMode = Literal["leading", "trailing", "both"]


class Throttle(_Delayed):
    """Lets at most one exec through per ``intervalMs``. ``mode``: leading (the first exec of a
    window passes at once, the others are dropped), trailing (the last exec of a window passes
    when the window ends, as a new pass) or both. ``dropped`` counts the execs that never
    passed; ``value`` holds the value of the one that passed."""

    class_name = "timing.throttle"
    label = "Throttle"
    category = "timing"
    in_ = ExecIn(name="in")
    out = ExecOut(doc="at most once per intervalMs")
    input_value = DataIn(Any, None, name="value", doc="taken at each exec that may pass")
    held = DataOut(Any, doc="the value of the exec that passed")
    intervalMs = State(int, 1000, ge=1, le=MAX_MS, show=True, doc="the shortest time between outs")
    mode = State(ThrottleMode, "leading", show=True, doc="which exec of a window passes")
    dropped = State(int, 0, access="ro", show=True, doc="execs that never passed")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._window_end = float("-inf")
        self._pending: tuple[Any] | None = None  # the value a trailing fire will pass

    def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        now, mode = self.clock(), self.mode
        if now >= self._window_end and self._pending is None:
            value = ctx.input("value")
            self._window_end = now + self.intervalMs / 1000
            if mode != "trailing":
                self._value = value
                return "out"
            self._pending = (value,)
            self.alarm.set(self._window_end)
            return None
        if mode == "leading":  # dropped: its value is never used, so never read
            self.dropped = self.dropped + 1
            return None
        value = ctx.input("value")
        if self._pending is not None:
            self.dropped = self.dropped + 1  # replaced by this later one
        self._pending = (value,)
        self.alarm.set(self._window_end)
        return None

    def rang(self) -> bool:
        if self._pending is None:
            return False
        self._value = self._pending[0]
        self._pending = None
        self._window_end = self.clock() + self.intervalMs / 1000
        return True

    def on_deactivate(self) -> None:
        super().on_deactivate()
        if self._pending is not None:
            self._pending = None
            self.dropped = self.dropped + 1


class Interval(Operator):
    """Fires ``out`` every ``intervalMs`` while ``running`` and the service is active, on a
    fixed grid (no drift; ticks a late pass ran past are skipped and counted in ``missed``).
    ``start``/``stop`` set ``running``; a new interval or a start begins a new grid. With
    ``align`` the grid falls on whole multiples of the interval since the Unix epoch, so
    services on synchronised clocks tick together (a 60 s interval fires on each minute)."""

    class_name = "timing.interval"
    label = "Interval"
    category = "timing"
    trigger_pin: ClassVar[str | None] = "out"
    start = ExecIn(doc="set running")
    stop = ExecIn(doc="clear running")
    out = ExecOut(doc="fires once per interval")
    intervalMs = State(int, 1000, ge=1, le=MAX_MS, show=True, doc="interval in milliseconds")
    running = State(bool, True, show=True, doc="whether it fires")
    align = State(bool, False, doc="ticks on whole multiples of the interval (wall clock)")
    missed = State(int, 0, access="ro", doc="ticks skipped because a pass ran past them")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self.wall: Callable[[], float] = time.time
        self._waker = Waker()

    def on_state(self, name: str, value: Any) -> None:
        if name in ("intervalMs", "running", "align"):
            self._waker.poke()

    def on_exec(self, pin: str, ctx: ExecContext) -> None:
        wanted = pin == "start"
        if self.running != wanted:
            self.running = wanted
            self._waker.poke()

    def first_due(self, interval: float) -> Schedule:
        """The grid from now: the next tick one interval away, or (``align``) at the next
        whole multiple of the interval on the wall clock."""
        now = self.clock()
        offset = self.wall() % interval if self.align else 0.0
        return Schedule(now - offset, interval)

    async def run_source(self, ctx: SourceContext) -> None:
        while True:
            if not self.running:
                await self._waker.sleep(None)
                continue
            schedule = self.first_due(self.intervalMs / 1000)
            while not await self._waker.sleep(schedule.due - self.clock()):
                skipped = schedule.advance(self.clock())
                if skipped:
                    self.missed = self.missed + skipped
                if ctx.active:
                    await ctx.trigger("out")


class Cron(Operator):
    """Fires ``out`` at the wall-clock times of a standard 5-field cron expression (minute hour
    day-of-month month day-of-week, e.g. ``*/15 9-17 * * MON-FRI``) in the time zone
    ``timeZone`` (an IANA name), while the service is active; a time passed while inactive is
    not made up. ``nextFire`` shows the next time (ISO 8601). A local time that the zone skips
    (clocks going forward) does not fire; one that happens twice fires once."""

    class_name = "timing.cron"
    label = "Cron"
    category = "timing"
    trigger_pin: ClassVar[str | None] = "out"
    out = ExecOut(doc="fires at each scheduled time")
    expr = State(CronText, "0 * * * *", show=True, doc="minute hour day month weekday")
    timeZone = State(ZoneName, "UTC", show=True, doc="IANA time zone, e.g. Europe/Paris")
    nextFire = State(str, "", access="ro", show=True, doc="the next fire time (ISO 8601)")
    fired = State(int, 0, access="ro", doc="how many times it fired on its schedule")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._waker = Waker()

    def on_state(self, name: str, value: Any) -> None:
        if name in ("expr", "timeZone"):
            self._waker.poke()

    def next_fire(self) -> datetime:
        return parse(self.expr).next_after(self.now(), zone(self.timeZone))

    async def run_source(self, ctx: SourceContext) -> None:
        while True:
            due = self.next_fire()
            if self.nextFire != due.isoformat():
                self.nextFire = due.isoformat()
            poked = False
            while not poked and (left := (due - self.now()).total_seconds()) > 0:
                poked = await self._waker.sleep(min(left, CRON_NAP_S))
            if not poked and ctx.active:
                self.fired = self.fired + 1
                await ctx.trigger("out")


class Once(Operator):
    """Fires ``out`` once each time the service becomes active: when the node is created in an
    active service (a deploy, a service start) and on each activate after a deactivate. In
    Simulate it fires when the simulation runs on its own clocks, not on single steps."""

    class_name = "timing.once"
    label = "Once"
    category = "timing"
    out = ExecOut(doc="fires once per activation")
    fired = State(int, 0, access="ro", show=True, doc="how many times it fired")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._due = False
        self._waker = Waker()

    def on_activate(self) -> None:
        self._due = True
        self._waker.poke()

    def on_deactivate(self) -> None:
        self._due = False

    async def run_source(self, ctx: SourceContext) -> None:
        while True:
            if self._due:
                self._due = False
                if ctx.active:
                    self.fired = self.fired + 1
                    await ctx.trigger("out")
            await self._waker.sleep(None)
