"""Filters over a stream of values: Range Map, Smooth (EMA and the One Euro filter), Rate Limiter,
Window (bounded moving statistics) and Change Detector.

The exec-driven ones take one sample of input per exec and keep their memory in the node (it
starts over when the node is created again); those that keep time read a clock attribute
(seconds, monotonic): the event loop's time by default, any function in tests.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Literal

from node_library.signals import MAX_LEVEL, loop_time
from runtime import DataIn, DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State

TINY = 1e-6
"""The least alpha and cutoff: above 0, where the filters would stop moving."""
MAX_WINDOW = 100_000
"""The most values a Window holds, in either mode."""


class RangeMap(Operator):
    """Maps input linearly from [inMin, inMax] to [outMin, outMax], clamped to the output
    range when clamp is on.

    Either range may run downwards (inMin > inMax inverts the mapping). inMin equal to inMax
    is an empty input range: the node reports an error instead of dividing by zero."""

    class_name = "math.range_map"
    label = "Range Map"
    category = "math"
    input = DataIn(float, 0.0)
    value = DataOut(float, doc="the mapped value")
    inMin = State(float, 0.0, ge=-MAX_LEVEL, le=MAX_LEVEL, show=True)
    inMax = State(float, 1.0, ge=-MAX_LEVEL, le=MAX_LEVEL, show=True)
    outMin = State(float, 0.0, ge=-MAX_LEVEL, le=MAX_LEVEL, show=True)
    outMax = State(float, 1.0, ge=-MAX_LEVEL, le=MAX_LEVEL, show=True)
    clamp = State(bool, True, doc="keep the result within [outMin, outMax]")

    def compute(self, inputs: Inputs) -> float:
        lo, hi, out_lo, out_hi = self.inMin, self.inMax, self.outMin, self.outMax
        if lo == hi:
            raise ValueError(f"Range Map {self.node_id}: inMin and inMax are both {lo}, an "
                             "empty input range; set them apart")
        mapped = out_lo + (inputs["input"] - lo) * (out_hi - out_lo) / (hi - lo)
        if self.clamp:
            mapped = min(max(mapped, min(out_lo, out_hi)), max(out_lo, out_hi))
        return float(mapped)


def one_euro_alpha(rate_hz: float, cutoff_hz: float) -> float:
    """The smoothing factor of a first-order low-pass at cutoff_hz sampled at rate_hz
    (Casiez et al. 2012: alpha = 1 / (1 + tau * rate), tau = 1 / (2 pi cutoff))."""
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau * rate_hz)


class Smooth(Operator):
    """Smooths input, one sample per exec: an exponential moving average (mode ema) or the
    One Euro filter (mode one_euro); value is the smoothed value.

    ema: value += alpha * (input - value), 0 < alpha <= 1 (1: no smoothing). one_euro (Casiez,
    Roussel and Vogel, CHI 2012) smooths hard while the input is slow and follows it closely
    while it moves fast: its cutoff is minCutoff + beta * |speed| (Hz), the speed itself
    low-passed at dCutoff; the sample rate comes from the time between execs (two samples at
    the same instant: the second leaves the value as it was). The first sample passes as is."""

    class_name = "filter.smooth"
    label = "Smooth"
    category = "filters"
    in_ = ExecIn(name="in", doc="take one sample of input")
    out = ExecOut()
    input = DataIn(float, 0.0)
    value = DataOut(float, doc="the smoothed value (0 before the first sample)")
    mode = State(Literal["ema", "one_euro"], "ema", show=True)
    alpha = State(float, 0.2, ge=TINY, le=1.0, show=True,
                  doc="ema: weight of each new sample (0 < a <= 1)")
    minCutoff = State(float, 1.0, ge=TINY, le=100_000.0,
                      doc="one_euro: cutoff in Hz while the input is still")
    beta = State(float, 0.0, ge=0.0, le=1_000_000.0, doc="one_euro: how fast the cutoff "
                 "grows with the speed (0: a fixed cutoff)")
    dCutoff = State(float, 1.0, ge=TINY, le=100_000.0,
                    doc="one_euro: cutoff in Hz of the speed estimate")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self._value: float | None = None
        self._speed = 0.0
        self._at = 0.0

    def on_state(self, name: str, value: object) -> None:
        if name == "mode":
            self._value = None  # a new filter starts from its next sample

    def update(self, x: float, now: float) -> float:
        """Take sample x at clock time now; the smoothed value."""
        last = self._value
        if last is None:
            self._value, self._speed = x, 0.0
        elif self.mode == "ema":
            self._value = last + self.alpha * (x - last)
        elif now > self._at:
            rate = 1.0 / (now - self._at)
            speed = (x - last) * rate
            self._speed += one_euro_alpha(rate, self.dCutoff) * (speed - self._speed)
            cutoff = self.minCutoff + self.beta * abs(self._speed)
            self._value = last + one_euro_alpha(rate, cutoff) * (x - last)
        self._at = now
        return self._value if self._value is not None else x

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.update(float(ctx.input("input")), self.clock())
        return "out"

    def compute(self, inputs: Inputs) -> float:
        return 0.0 if self._value is None else self._value


class RateLimiter(Operator):
    """Limits how fast input reaches value, one sample per exec: by time (mode time) or
    by slew rate (mode slew).

    time: a sample passes (and continues on out) when at least intervalMs have gone by
    since the last one that passed; otherwise value holds and the exec continues on
    held. slew: value moves toward the input by at most maxRate per second of
    elapsed time, and continues on out. The first sample passes as is."""

    class_name = "filter.rate_limit"
    label = "Rate Limiter"
    category = "filters"
    in_ = ExecIn(name="in", doc="offer one sample of input")
    out = ExecOut(doc="the value changed (time: the sample passed)")
    held = ExecOut(doc="time mode: the sample came too soon and was not passed")
    input = DataIn(float, 0.0)
    value = DataOut(float, doc="the limited value (0 before the first sample)")
    mode = State(Literal["time", "slew"], "time", show=True)
    intervalMs = State(float, 1000.0, ge=0.0, le=86_400_000.0, show=True,
                       doc="time: the least time between two samples that pass")
    maxRate = State(float, 1.0, ge=0.0, le=MAX_LEVEL, doc="slew: the most change per second")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self._value: float | None = None
        self._at = 0.0

    def offer(self, x: float, now: float) -> bool:
        """Offer sample x at clock time now; whether the value moved toward it."""
        last = self._value
        if last is None:
            self._value, self._at = x, now
            return True
        if self.mode == "time":
            if (now - self._at) * 1000 < self.intervalMs:
                return False
            self._value, self._at = x, now
            return True
        step = self.maxRate * max(0.0, now - self._at)
        self._value = min(max(x, last - step), last + step)
        self._at = now
        return True

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        return "out" if self.offer(float(ctx.input("input")), self.clock()) else "held"

    def compute(self, inputs: Inputs) -> float:
        return 0.0 if self._value is None else self._value


class Window(Operator):
    """Moving min, max, mean and sum of the last size samples (mode count) or of those of
    the last seconds (mode time), one sample of input per exec.

    Memory is bounded: at most 100,000 samples are kept in either mode (a time window that
    would hold more drops its oldest). Each sample costs O(1) amortized; with no samples the
    outputs are 0 and count is 0."""

    class_name = "filter.window"
    label = "Window"
    category = "filters"
    in_ = ExecIn(name="in", doc="add one sample of input")
    out = ExecOut()
    input = DataIn(float, 0.0)
    min = DataOut(float)
    max = DataOut(float)
    mean = DataOut(float)
    sum = DataOut(float)
    count = DataOut(int, doc="how many samples the window holds")
    mode = State(Literal["count", "time"], "count", show=True)
    size = State(int, 10, ge=1, le=MAX_WINDOW, show=True, doc="count: samples in the window")
    seconds = State(float, 10.0, ge=0.001, le=86_400.0, doc="time: the window's length")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self._items: deque[tuple[float, float]] = deque()  # (clock time, value)
        self._lows: deque[tuple[int, float]] = deque()  # (sequence number, value), rising
        self._highs: deque[tuple[int, float]] = deque()  # falling
        self._seq = 0  # of the next sample
        self._sum = 0.0
        self._evicted = 0  # since the sum was last added up afresh

    def add(self, x: float, now: float) -> None:
        """Add sample x taken at clock time now, dropping what left the window."""
        items, lows, highs = self._items, self._lows, self._highs
        seq = self._seq
        self._seq = seq + 1
        items.append((now, x))
        total = self._sum + x
        while lows and lows[-1][1] >= x:
            lows.pop()
        lows.append((seq, x))
        while highs and highs[-1][1] <= x:
            highs.pop()
        highs.append((seq, x))
        before = kept = len(items)
        if self.mode == "count":
            limit = self.size
            while kept > limit:
                total -= items.popleft()[1]
                kept -= 1
        else:
            horizon = now - self.seconds
            while kept > MAX_WINDOW or items[0][0] <= horizon:
                total -= items.popleft()[1]
                kept -= 1
        self._sum = total
        if kept == before:
            return
        first = seq + 1 - kept  # sequence number of the oldest sample kept
        while lows[0][0] < first:
            lows.popleft()
        while highs[0][0] < first:
            highs.popleft()
        evicted = self._evicted + before - kept
        if evicted >= 1024 and evicted >= kept:  # bound the rounding the running sum gathers
            self._sum, evicted = math.fsum(v for _, v in items), 0
        self._evicted = evicted

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.add(float(ctx.input("input")), self.clock())
        return "out"

    def compute(self, inputs: Inputs) -> dict[str, float | int]:
        n = len(self._items)
        if n == 0:
            return {"min": 0.0, "max": 0.0, "mean": 0.0, "sum": 0.0, "count": 0}
        return {"min": self._lows[0][1], "max": self._highs[0][1], "mean": self._sum / n,
                "sum": self._sum, "count": n}


class ChangeDetector(Operator):
    """Continues on changed when input differs from the reference by more than
    threshold, else on unchanged; delta is input minus the reference.

    The reference is the value at the last change (so a slow drift fires once it has added up
    to more than the threshold). The first sample only sets the reference and continues on
    unchanged."""

    class_name = "filter.change_detector"
    label = "Change Detector"
    category = "filters"
    in_ = ExecIn(name="in", doc="test one sample of input")
    changed = ExecOut(doc="the input moved more than threshold from the reference")
    unchanged = ExecOut()
    input = DataIn(float, 0.0)
    delta = DataOut(float, doc="input minus the reference, at the last sample")
    threshold = State(float, 0.0, ge=0.0, le=MAX_LEVEL, show=True)
    changes = State(int, 0, access="ro", show=True, doc="how often changed fired")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._reference: float | None = None
        self._delta = 0.0

    def test(self, x: float) -> bool:
        """Take sample x; whether it counts as a change."""
        if self._reference is None:
            self._reference, self._delta = x, 0.0
            return False
        self._delta = x - self._reference
        if abs(self._delta) <= self.threshold:
            return False
        self._reference = x
        return True

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        if not self.test(float(ctx.input("input"))):
            return "unchanged"
        self.changes = self.changes + 1
        return "changed"

    def compute(self, inputs: Inputs) -> float:
        return self._delta
