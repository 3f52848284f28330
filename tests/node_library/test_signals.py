"""Signal generators: Signal and Envelope, on injected clocks."""

from __future__ import annotations

from typing import Any

import pytest

from node_library.signals import Envelope, Signal
from runtime.component import Inputs
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signal(clock: Clock, **state: Any) -> Signal:
    sig = Signal("sig")
    sig.clock = clock
    for name, value in state.items():
        setattr(sig, name, value)
    sig.on_create()
    return sig


def samples(sig: Signal, clock: Clock, times: list[float]) -> list[float]:
    start, out = clock.now, []
    for t in times:
        clock.now = start + t
        out.append(sig.compute(Inputs()))
    return out


@pytest.mark.parametrize(("shape", "expected"), [
    ("sine", [0.0, 1.0, 0.0, -1.0]),
    ("square", [1.0, 1.0, -1.0, -1.0]),
    ("saw", [-1.0, -0.5, 0.0, 0.5]),
    ("triangle", [-1.0, 0.0, 1.0, 0.0]),
    ("phase", [0.0, 0.25, 0.5, 0.75]),
])
def test_each_shape_follows_its_cycle(shape, expected):
    clock = Clock()
    sig = signal(clock, shape=shape, frequencyHz=2.0)

    got = samples(sig, clock, [0.0, 0.125, 0.25, 0.375])  # quarter cycles at 2 Hz

    assert got == pytest.approx(expected, abs=1e-12)


def test_amplitude_offset_and_phase_shape_the_wave():
    clock = Clock()
    sig = signal(clock, shape="sine", frequencyHz=1.0, amplitude=3.0, offset=10.0, phase=0.25)

    got = samples(sig, clock, [0.0, 0.25, 0.5])

    assert got == pytest.approx([13.0, 10.0, 7.0], abs=1e-9)


def test_time_counts_from_the_first_read():
    clock = Clock(5_000.0)
    sig = signal(clock, shape="phase", frequencyHz=1.0)

    first = sig.compute(Inputs())
    clock.now += 0.5

    assert (first, sig.compute(Inputs())) == pytest.approx((0.0, 0.5))


def test_noise_is_bounded_by_the_amplitude_and_repeats_with_its_seed():
    clock = Clock()
    one = samples(signal(clock, shape="noise", amplitude=2.0, offset=5.0, seed=9), clock,
                  [0.0] * 200)
    again = samples(signal(clock, shape="noise", amplitude=2.0, offset=5.0, seed=9), clock,
                    [0.0] * 200)
    other = samples(signal(clock, shape="noise", amplitude=2.0, offset=5.0, seed=10), clock,
                    [0.0] * 200)

    assert one == again
    assert one != other
    assert all(3.0 <= v <= 7.0 for v in one)
    assert len(set(one)) == 200


@pytest.mark.parametrize(("field", "value", "message"), [
    ("frequencyHz", -1.0, "below the minimum 0.0"),
    ("frequencyHz", 1e9, "above the maximum"),
    ("amplitude", 1e13, "above the maximum"),
    ("offset", -1e13, "below the minimum"),
    ("phase", 1.5, "above the maximum 1.0"),
    ("shape", "pulse", "sine"),
    ("seed", -1, "below the minimum 0"),
])
def test_signal_fields_refuse_values_out_of_bounds(field, value, message):
    with pytest.raises(ValueError, match=message):
        Signal.check_value(field, value)


async def test_signal_drives_a_print_in_simulate(simulate):
    g = graph([node("tick", "core.tick"),
               node("sig", "signal.generator", shape="saw", frequencyHz=0.5),
               node("p", "core.print")],
              [edge("exec", "tick.out", "p.in"), edge("data", "sig.value", "p.value")])
    sim = await simulate(g, registry=registry_with())
    clock = Clock()
    sim.hosts["main"].bus.nodes["sig"].clock = clock  # type: ignore[attr-defined]
    seen = []

    for _ in range(3):
        await sim.step(1)
        seen.append(sim.state()["p"]["last"])
        clock.now += 0.5

    assert seen == pytest.approx([-1.0, -0.5, 0.0])


async def test_set_state_refuses_a_negative_frequency(simulate):
    sim = await simulate(graph([node("sig", "signal.generator")]), registry=registry_with())

    reply = await sim.call("main", "set_state",
                           {"nodeId": "sig", "field": "frequencyHz", "value": -2})

    assert reply.error is not None
    assert reply.error.code == "INVALID_ARGS"
    assert "sig.frequencyHz" in reply.error.message
    assert sim.state()["sig"]["frequencyHz"] == 1.0


# -- Envelope -------------------------------------------------------------------------------------


def envelope(clock: Clock, **state: Any) -> Envelope:
    env = Envelope("env")
    env.clock = clock
    for name, value in {"attackMs": 100.0, "decayMs": 200.0, "sustain": 0.5,
                        "releaseMs": 400.0, **state}.items():
        setattr(env, name, value)
    return env


def edge_at(env: Envelope, clock: Clock, pin: str) -> None:
    assert env.on_exec(pin, None) == "out"  # type: ignore[arg-type]  # no input is read


def levels(env: Envelope, clock: Clock, ms: list[float]) -> list[float]:
    start, out = clock.now, []
    for t in ms:
        clock.now = start + t / 1000
        out.append(env.compute(Inputs()))
    clock.now = start
    return out


def test_envelope_is_silent_before_its_first_gate():
    clock = Clock()

    assert levels(envelope(clock), clock, [0, 1_000]) == [0.0, 0.0]


def test_gate_on_runs_attack_decay_then_holds_sustain():
    clock = Clock()
    env = envelope(clock)
    edge_at(env, clock, "gate_on")

    got = levels(env, clock, [0, 50, 100, 200, 300, 5_000])

    assert got == pytest.approx([0.0, 0.5, 1.0, 0.75, 0.5, 0.5])
    assert env.gate is True


def test_gate_off_releases_from_the_level_it_was_at():
    clock = Clock()
    env = envelope(clock)
    edge_at(env, clock, "gate_on")
    clock.now += 0.05  # half way up the attack: level 0.5
    edge_at(env, clock, "gate_off")

    got = levels(env, clock, [0, 200, 400, 1_000])

    assert got == pytest.approx([0.5, 0.25, 0.0, 0.0])
    assert env.gate is False


def test_retrigger_rises_from_the_current_level_in_the_rest_of_the_attack():
    clock = Clock()
    env = envelope(clock)
    edge_at(env, clock, "gate_on")
    clock.now += 0.3  # sustaining at 0.5
    edge_at(env, clock, "gate_on")

    got = levels(env, clock, [0, 25, 50])

    assert got == pytest.approx([0.5, 0.75, 1.0])


def test_trigger_attacks_to_the_peak_then_releases():
    clock = Clock()
    env = envelope(clock)
    edge_at(env, clock, "trigger")

    got = levels(env, clock, [50, 100, 300, 500, 600])

    assert got == pytest.approx([0.5, 1.0, 0.5, 0.0, 0.0])


def test_zero_times_jump():
    clock = Clock()
    env = envelope(clock, attackMs=0.0, decayMs=0.0, releaseMs=0.0, sustain=0.25)
    edge_at(env, clock, "gate_on")
    held = levels(env, clock, [0])
    edge_at(env, clock, "gate_off")

    assert (held, levels(env, clock, [0])) == ([0.25], [0.0])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("attackMs", -1.0, "below the minimum"),
    ("releaseMs", 4_000_000.0, "above the maximum"),
    ("sustain", 1.5, "above the maximum 1.0"),
])
def test_envelope_fields_refuse_values_out_of_bounds(field, value, message):
    with pytest.raises(ValueError, match=message):
        Envelope.check_value(field, value)


async def test_envelope_gates_from_exec_edges_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("seq", "core.sequence", count=2),
               node("env", "signal.envelope", attackMs=100.0, decayMs=0.0, sustain=0.8),
               node("p", "core.print")],
              [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "env.gate_on"),
               edge("exec", "seq.then1", "p.in"), edge("data", "env.level", "p.value")])
    sim = await simulate(g, registry=registry_with())
    clock = Clock()
    sim.hosts["main"].bus.nodes["env"].clock = clock  # type: ignore[attr-defined]

    await sim.step(1)  # gate on at t=0: level 0
    first = sim.state()["p"]["last"]
    clock.now += 10.0  # the next gate_on starts from the sustain level (0.8)
    await sim.step(1)

    assert (first, sim.state()["p"]["last"], sim.state()["env"]["gate"]) == (0.0, 0.8, True)
