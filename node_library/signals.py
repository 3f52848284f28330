"""Signal generators: Signal (periodic waves and seeded noise) and Envelope (ADSR on exec edges).

Both read the time from a clock attribute (seconds, monotonic): the running event loop's
time by default, any function in tests, so their values follow from the time alone.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Literal

from runtime import DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State

Shape = Literal["sine", "square", "saw", "triangle", "phase", "noise"]
MAX_LEVEL = 1e12
"""Bound on amplitudes and offsets, so every output is a finite float."""
MAX_MS = 3_600_000


loop_time: Callable[[], float] = time.monotonic
"""The event loop's time in seconds: asyncio's loops read time.monotonic, so the nodes read it
directly, without looking the loop up on every pass."""


def wave(shape: Shape, cycle: float) -> float:
    """The unit wave shape (between -1 and 1; phase: 0 to 1) at cycle in [0, 1)."""
    if shape == "sine":
        return math.sin(2 * math.pi * cycle)
    if shape == "square":
        return 1.0 if cycle < 0.5 else -1.0
    if shape == "saw":
        return 2 * cycle - 1
    if shape == "triangle":
        return 1 - 4 * abs(cycle - 0.5)
    return cycle  # phase


class Signal(Operator):
    """Generates a wave: offset + amplitude * shape(frequencyHz * t + phase), t in seconds since
    the first pass that read it.

    Shapes: sine, square (+1 for the first half of each cycle, then -1), saw (-1 rising to +1),
    triangle (-1 up to +1 at mid-cycle and back), phase (the cycle position itself, 0 rising to
    1) and noise (a uniform random value in [-1, 1], a new one in each pass that reads it,
    repeatable with seed). The value is computed when a pass pulls it, from the time then."""

    class_name = "signal.generator"
    label = "Signal"
    category = "signals"
    value = DataOut(float, doc="the signal at the time of the pass")
    shape = State(Shape, "sine", show=True, doc="sine, square, saw, triangle, phase or noise")
    frequencyHz = State(float, 1.0, ge=0.0, le=100_000.0, show=True,
                        doc="cycles per second (0 holds the wave at its phase)")
    amplitude = State(float, 1.0, ge=-MAX_LEVEL, le=MAX_LEVEL, doc="scale of the unit wave")
    offset = State(float, 0.0, ge=-MAX_LEVEL, le=MAX_LEVEL, doc="added to the scaled wave")
    phase = State(float, 0.0, ge=0.0, le=1.0, doc="start position in the cycle (0 to 1)")
    seed = State(int, 0, ge=0, le=2**63 - 1, doc="seed of the noise shape")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self._start: float | None = None
        self._rng = random.Random(0)

    def on_create(self) -> None:
        self._rng = random.Random(self.seed)

    def on_state(self, name: str, value: object) -> None:
        if name == "seed":
            self._rng = random.Random(self.seed)

    def at(self, t: float) -> float:
        """The signal t seconds after the start (noise: the next random value)."""
        shape: Shape = self.shape
        unit = (self._rng.uniform(-1.0, 1.0) if shape == "noise"
                else wave(shape, math.fmod(self.frequencyHz * t + self.phase, 1.0)))
        return float(self.offset + self.amplitude * unit)

    def compute(self, inputs: Inputs) -> float:
        now = self.clock()
        if self._start is None:
            self._start = now
        return self.at(max(0.0, now - self._start))


class Envelope(Operator):
    """An ADSR envelope: gate_on starts the attack, gate_off the release; level is
    computed from the time since the last edge.

    After gate_on the level rises from where it was to 1 in attackMs, falls to
    sustain in decayMs and stays there; after gate_off it falls from where it was to 0
    in releaseMs. trigger is a gate_on followed at once by a gate_off at the peak: a
    one-shot attack then release. A time of 0 jumps. Each exec input continues on out."""

    class_name = "signal.envelope"
    label = "Envelope"
    category = "signals"
    gate_on = ExecIn(doc="start the attack from the current level")
    gate_off = ExecIn(doc="start the release from the current level")
    trigger = ExecIn(doc="attack to the peak, then release (no sustain)")
    out = ExecOut()
    level = DataOut(float, doc="the envelope level, 0 to 1")
    attackMs = State(float, 10.0, ge=0.0, le=MAX_MS, show=True, doc="rise time to the peak")
    decayMs = State(float, 100.0, ge=0.0, le=MAX_MS, doc="fall time from peak to sustain")
    sustain = State(float, 0.7, ge=0.0, le=1.0, show=True, doc="level held while the gate is on")
    releaseMs = State(float, 200.0, ge=0.0, le=MAX_MS, doc="fall time to 0 after the gate is off")
    gate = State(bool, False, access="ro", show=True, doc="whether the gate is on")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.clock: Callable[[], float] = loop_time
        self._edge = 0.0  # clock time of the last edge
        self._from = 0.0  # the level at that edge
        self._on = False
        self._one_shot = False  # trigger: release as soon as the attack ends

    def level_at(self, now: float) -> float:
        """The level at clock time now."""
        ms = max(0.0, now - self._edge) * 1000
        if self._on:
            return self._rising(ms)
        if self._one_shot:
            attack = self.attackMs * (1 - self._from)
            if ms < attack:
                return self._rising(ms)
            return _fall(1.0, ms - attack, self.releaseMs)
        return _fall(self._from, ms, self.releaseMs)

    def _rising(self, ms: float) -> float:
        attack = float(self.attackMs) * (1 - self._from)  # from a level already up: shorter
        if ms < attack:
            return self._from + (1 - self._from) * ms / attack
        ms -= attack
        sustain, decay = float(self.sustain), float(self.decayMs)
        if ms < decay:
            return 1 - (1 - sustain) * ms / decay
        return sustain

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        now = self.clock()
        self._from, self._edge = self.level_at(now), now
        self._on = pin == "gate_on"
        self._one_shot = pin == "trigger"
        if self.gate != self._on:
            self.gate = self._on
        return "out"

    def compute(self, inputs: Inputs) -> float:
        return self.level_at(self.clock())


def _fall(start: float, ms: float, release_ms: float) -> float:
    if ms >= release_ms:
        return 0.0
    return start * (1 - ms / release_ms)
