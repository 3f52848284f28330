"""CPU mock sensors: sources of synthetic data that stand in for hardware in Simulate."""

from __future__ import annotations

import random

from runtime import DataOut, Inputs, Operator, State


class RandomWalk(Operator):
    """A mock sensor: each pass that pulls it takes one random step of at most ``step``."""

    class_name = "sensor.random_walk"
    label = "Random walk"
    category = "sources"
    value = DataOut(float)
    step = State(float, 1.0, ge=0.0)
    seed = State(int, 0)
    current = State(float, 0.0, access="ro", show=True)

    def on_create(self) -> None:
        self._rng = random.Random(self.seed)

    def on_state(self, name: str, value: object) -> None:
        if name == "seed":
            self._rng = random.Random(self.seed)

    def compute(self, inputs: Inputs) -> float:
        value = float(self.current) + self._rng.uniform(-self.step, self.step)
        self.current = value
        return value
