"""Cycles are collected on the GUI thread, never in a worker that happens to allocate."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any

from studio_app.gui_gc import GuiThreadCollector


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_garbage_made_in_a_worker_is_collected_on_the_gui_thread(qtbot: Any) -> None:
    collector = GuiThreadCollector(interval_ms=20)
    freed_on: list[str] = []
    try:
        def worker() -> None:
            for _ in range(5):
                victim = Cycle()
                weakref.finalize(victim, lambda: freed_on.append(threading.current_thread().name))
                del victim
            for _ in range(gc.get_threshold()[0] * 3):  # allocations that would trigger a pass
                Cycle()

        thread = threading.Thread(target=worker, name="worker")
        thread.start()
        thread.join()
        assert freed_on == []  # nothing was collected in the worker
        qtbot.waitUntil(lambda: len(freed_on) >= 5, timeout=5000)
        assert set(freed_on) == {threading.main_thread().name}
        assert collector.collections >= 1
    finally:
        collector.stop()
    assert gc.isenabled()
