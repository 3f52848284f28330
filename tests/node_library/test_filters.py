"""Filters: Range Map, Smooth (EMA, One Euro), Rate Limiter, Window and Change Detector."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node_library.filters import (
    MAX_WINDOW,
    ChangeDetector,
    RangeMap,
    RateLimiter,
    Smooth,
    Window,
)
from runtime.component import Inputs
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401


def made(cls: type[Any], **state: Any) -> Any:
    op = cls("op")
    for name, value in state.items():
        setattr(op, name, value)
    return op


# -- Range Map ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "clamp", "expected"), [
    (5.0, True, 50.0), (0.0, True, 0.0), (15.0, True, 100.0), (15.0, False, 150.0),
    (-5.0, False, -50.0), (-5.0, True, 0.0),
])
def test_range_map_maps_linearly_and_clamps_on_request(x, clamp, expected):
    op = made(RangeMap, inMin=0.0, inMax=10.0, outMin=0.0, outMax=100.0, clamp=clamp)

    assert op.compute(Inputs(input=x)) == pytest.approx(expected)


def test_range_map_inverts_a_downward_range_and_clamps_within_it():
    op = made(RangeMap, inMin=0.0, inMax=1.0, outMin=10.0, outMax=-10.0, clamp=True)

    assert [op.compute(Inputs(input=x)) for x in (0.25, 2.0)] == pytest.approx([5.0, -10.0])


def test_range_map_refuses_an_empty_input_range():
    op = made(RangeMap, inMin=3.0, inMax=3.0)

    with pytest.raises(ValueError, match="Range Map op: inMin and inMax are both 3.0"):
        op.compute(Inputs(input=3.0))


async def test_an_empty_range_is_recorded_on_the_node_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("k", "core.constant", value=2.0),
               node("map", "math.range_map", inMin=1.0, inMax=1.0), node("p", "core.print")],
              [edge("exec", "tick.out", "p.in"), edge("data", "k.value", "map.input"),
               edge("data", "map.value", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    assert "empty input range" in sim.state()["map"]["_error"]["message"]
    assert sim.state()["p"]["last"] is None  # the consumer's default


@pytest.mark.parametrize("field", ["inMin", "inMax", "outMin", "outMax"])
def test_range_map_bounds_its_limits(field):
    with pytest.raises(ValueError, match="above the maximum"):
        RangeMap.check_value(field, 1e13)


# -- Smooth ---------------------------------------------------------------------------------------


def test_ema_moves_by_alpha_of_the_gap():
    op = made(Smooth, mode="ema", alpha=0.5)

    got = [op.update(x, 0.0) for x in (10.0, 20.0, 20.0, 0.0)]

    assert got == pytest.approx([10.0, 15.0, 17.5, 8.75])


class PaperOneEuro:
    """The One Euro filter as the paper writes it (Casiez, Roussel, Vogel, CHI 2012, Fig. 1):
    a LowPassFilter class and a OneEuroFilter built from two of them."""

    class LowPass:
        def __init__(self) -> None:
            self.first = True
            self.hatxprev = 0.0

        def filter(self, x: float, alpha: float) -> float:
            hatx = x if self.first else alpha * x + (1 - alpha) * self.hatxprev
            self.first = False
            self.hatxprev = hatx
            return hatx

    def __init__(self, mincutoff: float, beta: float, dcutoff: float) -> None:
        self.mincutoff, self.beta, self.dcutoff = mincutoff, beta, dcutoff
        self.x, self.dx = self.LowPass(), self.LowPass()
        self.last: float | None = None

    @staticmethod
    def alpha(rate: float, cutoff: float) -> float:
        tau = 1.0 / (2 * math.pi * cutoff)
        te = 1.0 / rate
        return 1.0 / (1.0 + tau / te)

    def filter(self, x: float, t: float) -> float:
        if self.last is None:
            self.last = t
            self.dx.filter(0.0, 1.0)
            return self.x.filter(x, 1.0)
        rate = 1.0 / (t - self.last)
        self.last = t
        dx = (x - self.x.hatxprev) * rate
        edx = self.dx.filter(dx, self.alpha(rate, self.dcutoff))
        cutoff = self.mincutoff + self.beta * abs(edx)
        return self.x.filter(x, self.alpha(rate, cutoff))


@pytest.mark.parametrize(("min_cutoff", "beta", "d_cutoff"), [
    (1.0, 0.0, 1.0), (0.5, 0.05, 1.0), (2.0, 1.0, 0.3),
])
def test_one_euro_matches_the_papers_algorithm(min_cutoff, beta, d_cutoff):
    rng = random.Random(4)
    op = made(Smooth, mode="one_euro", minCutoff=min_cutoff, beta=beta, dCutoff=d_cutoff)
    reference = PaperOneEuro(min_cutoff, beta, d_cutoff)
    t, got, expected = 0.0, [], []
    for i in range(300):
        t += rng.uniform(0.005, 0.05)  # an uneven sample rate
        x = math.sin(i / 20) * 10 + rng.gauss(0, 0.5)
        got.append(op.update(x, t))
        expected.append(reference.filter(x, t))

    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_one_euro_smooths_jitter_more_than_it_lags_a_fast_move():
    op = made(Smooth, mode="one_euro", minCutoff=0.5, beta=0.5, dCutoff=1.0)
    for i in range(100):  # still input with jitter: the output stays near 0
        op.update(0.5 if i % 2 else -0.5, i * 0.01)
    still = abs(op.update(0.5, 1.0))
    for i in range(1, 11):  # a fast ramp: the output follows it closely
        moving = op.update(100.0 * i, 1.0 + i * 0.01)

    assert still < 0.1
    assert moving > 0.9 * 1000.0


def test_one_euro_ignores_a_second_sample_at_the_same_instant():
    op = made(Smooth, mode="one_euro")
    op.update(1.0, 5.0)

    assert op.update(50.0, 5.0) == 1.0


@pytest.mark.parametrize(("field", "value", "message"), [
    ("alpha", 0.0, "below the minimum 1e-06"), ("alpha", 1.5, "above the maximum 1.0"),
    ("minCutoff", 0.0, "below the minimum"), ("dCutoff", -1.0, "below the minimum"),
    ("beta", -0.1, "below the minimum"), ("mode", "kalman", "ema"),
])
def test_smooth_refuses_values_out_of_bounds(field, value, message):
    with pytest.raises(ValueError, match=message):
        Smooth.check_value(field, value)


async def test_smooth_takes_one_sample_per_exec_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("k", "core.constant", value=8.0),
               node("s", "filter.smooth", alpha=0.5), node("p", "core.print")],
              [edge("exec", "tick.out", "s.in"), edge("exec", "s.out", "p.in"),
               edge("data", "k.value", "s.input"), edge("data", "s.value", "p.value")])
    sim = await simulate(g, registry=registry_with())
    await sim.step(1)
    await sim.call("main", "set_state", {"nodeId": "k", "field": "value", "value": 0.0})
    seen = []

    for _ in range(2):
        await sim.step(1)
        seen.append(sim.state()["p"]["last"])

    assert seen == [4.0, 2.0]


# -- Rate Limiter ---------------------------------------------------------------------------------


def test_time_mode_passes_at_most_one_sample_per_interval():
    op = made(RateLimiter, mode="time", intervalMs=100.0)

    passed = [(op.offer(float(i), i * 0.03), op.compute(Inputs())) for i in range(8)]

    assert passed == [(True, 0.0), (False, 0.0), (False, 0.0), (False, 0.0), (True, 4.0),
                      (False, 4.0), (False, 4.0), (False, 4.0)]


def test_slew_mode_limits_the_change_per_second():
    op = made(RateLimiter, mode="slew", maxRate=10.0)
    op.offer(0.0, 0.0)

    moved, values = [], []
    for x, t in [(100.0, 0.5), (100.0, 1.0), (-3.0, 3.0), (-3.5, 3.01)]:
        moved.append(op.offer(x, t))
        values.append(op.compute(Inputs()))

    assert moved == [True] * 4
    assert values == pytest.approx([5.0, 10.0, -3.0, -3.1])


async def test_rate_limiter_continues_on_held_when_too_soon_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("r", "filter.rate_limit", intervalMs=3_600_000),
               node("passed", "core.counter"), node("held", "core.counter")],
              [edge("exec", "tick.out", "r.in"), edge("exec", "r.out", "passed.in"),
               edge("exec", "r.held", "held.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(3)

    assert (sim.state()["passed"]["count"], sim.state()["held"]["count"]) == (1, 2)


def test_rate_limiter_refuses_a_negative_interval():
    with pytest.raises(ValueError, match="below the minimum 0.0"):
        RateLimiter.check_value("intervalMs", -5)


# -- Window ---------------------------------------------------------------------------------------


def stats(op: Window) -> dict[str, Any]:
    out: dict[str, Any] = op.compute(Inputs())
    return out


def test_count_window_keeps_the_last_n_samples():
    op = made(Window, mode="count", size=3)
    for x in (5.0, 1.0, 9.0, 2.0):
        op.add(x, 0.0)

    assert stats(op) == {"min": 1.0, "max": 9.0, "mean": 4.0, "sum": 12.0, "count": 3}


def test_count_window_matches_a_brute_force_over_a_long_stream():
    rng = random.Random(1)
    op = made(Window, mode="count", size=7)
    xs = [rng.uniform(-100, 100) for _ in range(3_000)]
    for i, x in enumerate(xs):
        op.add(x, 0.0)
        last = xs[max(0, i - 6): i + 1]
        got = stats(op)
        assert (got["min"], got["max"], got["count"]) == (min(last), max(last), len(last))
        assert got["sum"] == pytest.approx(math.fsum(last), abs=1e-9)


def test_time_window_drops_samples_older_than_its_seconds():
    op = made(Window, mode="time", seconds=1.0)
    for x, t in ((1.0, 0.0), (7.0, 0.5), (3.0, 1.2), (4.0, 1.4)):
        op.add(x, t)

    assert stats(op) == {"min": 3.0, "max": 7.0, "mean": pytest.approx(14 / 3), "sum": 14.0,
                         "count": 3}


def test_time_window_holds_at_most_max_window_samples():
    op = made(Window, mode="time", seconds=86_400.0)
    for i in range(MAX_WINDOW + 5):
        op.add(float(i), 0.0)

    assert (stats(op)["count"], stats(op)["min"]) == (MAX_WINDOW, 5.0)


def test_time_window_matches_a_brute_force_over_a_long_stream_and_a_mode_change():
    rng = random.Random(2)
    op = made(Window, mode="time", seconds=0.05)
    now, window = 0.0, []  # (time, value): what the window should hold
    for i in range(3_000):
        if i == 2_000:  # the last size samples, then the time window again
            op.mode, op.size = "count", 5
        if i == 2_500:
            op.mode = "time"
        now += rng.uniform(0.0, 0.01)
        x = rng.uniform(-100, 100)
        op.add(x, now)
        window.append((now, x))
        if op.mode == "count":
            window = window[-5:]
        else:
            window = [(t, v) for t, v in window if t > now - 0.05]
        kept = [v for _, v in window]
        got = stats(op)
        assert (got["min"], got["max"], got["count"]) == (min(kept), max(kept), len(kept))
        assert got["sum"] == pytest.approx(math.fsum(kept), abs=1e-9)


def test_an_empty_window_outputs_zeros():
    assert stats(made(Window)) == {"min": 0.0, "max": 0.0, "mean": 0.0, "sum": 0.0, "count": 0}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("size", 0, "below the minimum 1"), ("size", MAX_WINDOW + 1, "above the maximum 100000"),
    ("seconds", 0.0, "below the minimum"),
])
def test_window_refuses_sizes_out_of_bounds(field, value, message):
    with pytest.raises(ValueError, match=message):
        Window.check_value(field, value)


async def test_window_outputs_its_statistics_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("c", "core.counter"),
               node("w", "filter.window", size=2), node("p", "core.print")],
              [edge("exec", "tick.out", "c.in"), edge("exec", "c.out", "w.in"),
               edge("exec", "w.out", "p.in"), edge("data", "c.value", "w.input"),
               edge("data", "w.mean", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(4)  # counts 1, 2, 3, 4: the window holds 3 and 4

    assert sim.state()["p"]["last"] == 3.5


# -- Change Detector ------------------------------------------------------------------------------


def test_change_detector_fires_past_the_threshold_from_the_last_change():
    op = made(ChangeDetector, threshold=1.0)

    fired, deltas = [], []
    for x in (10.0, 10.5, 11.0, 11.2, 9.9, 9.5):
        fired.append(op.test(x))
        deltas.append(op.compute(Inputs()))

    assert fired == [False, False, False, True, True, False]
    assert deltas == pytest.approx([0.0, 0.5, 1.0, 1.2, -1.3, -0.4])


async def test_change_detector_counts_changes_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("c", "core.counter", step=2),
               node("d", "filter.change_detector", threshold=3.0),
               node("alerts", "core.counter")],
              [edge("exec", "tick.out", "c.in"), edge("exec", "c.out", "d.in"),
               edge("exec", "d.changed", "alerts.in"), edge("data", "c.value", "d.input")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(6)  # 2 (reference), 4, 6 (+4: change), 8, 10 (+4: change), 12

    assert (sim.state()["d"]["changes"], sim.state()["alerts"]["count"]) == (2, 2)


def test_change_detector_refuses_a_negative_threshold():
    with pytest.raises(ValueError, match="below the minimum 0.0"):
        ChangeDetector.check_value("threshold", -1)


# -- the sensor smoothing example -----------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "assets/examples/sensor_smoothing.json"


async def test_the_sensor_smoothing_example_validates_and_raises_alerts(simulate):
    raw = json.loads(EXAMPLE.read_text())
    sim = await simulate(raw, registry=registry_with())

    await sim.step(100)

    state = sim.state()
    assert state["alerts"]["count"] == state["detect"]["changes"] > 0
    assert state["alert"]["last"].startswith("level ")
    assert sim.errors() == []


def test_rungraph_sim_runs_the_sensor_smoothing_example():
    out = subprocess.run([sys.executable, "-m", "runtime.cli", "sim", str(EXAMPLE), "--ticks",
                          "50", "--json"], capture_output=True, text=True, timeout=60,
                         cwd=EXAMPLE.parents[2])

    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["errors"] == []
    assert result["state"]["alerts"]["count"] == result["state"]["detect"]["changes"] > 0
