"""Python's cycle collector, run on the GUI thread only.

Left to itself, the collector runs in whichever thread happens to allocate when a threshold is
crossed: a worker that starts the embedded nats-server or writes the identity directory, say. If
that pass frees an unparented QObject, Qt destroys it off its thread; its timers cannot be
stopped from there, and the next one that fires finds its object gone (SIGSEGV). So Studio turns
automatic collection off and collects from a timer on the GUI thread, at the same thresholds.
"""

from __future__ import annotations

import gc

from PySide6 import QtCore


class GuiThreadCollector(QtCore.QObject):
    """Collects on the GUI thread every ``interval_ms`` when a generation's threshold is crossed;
    automatic collection stays off while it lives (``stop`` turns it back on)."""

    def __init__(self, parent: QtCore.QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self.collections = 0
        self._timer = QtCore.QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.check)
        gc.disable()
        self._timer.start()

    def check(self) -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] <= thresholds[0]:
            return
        generation = 0
        if counts[1] > thresholds[1]:
            generation = 2 if counts[2] > thresholds[2] else 1
        gc.collect(generation)
        self.collections += 1

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()
