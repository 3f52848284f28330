"""Studio GUI tests: offscreen Qt, a qasync loop per test, settings in a temporary folder."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_PREFERRED_BINDING", "PySide6")
os.environ.setdefault("QT_API", "pyside6")

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_app import qt_env  # noqa: F401


class Loop:
    """Runs coroutines on the test's qasync loop (Qt events are processed meanwhile)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def sleep(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds), timeout=seconds + 10)

    def until(
        self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        async def poll() -> None:
            deadline = self.loop.time() + timeout
            while not predicate():
                if self.loop.time() > deadline:
                    pytest.fail(f"timed out after {timeout}s waiting for {what}")
                await asyncio.sleep(0.02)

        self.run(poll(), timeout + 5)


_current: list[asyncio.AbstractEventLoop] = []


def _patch_qasync_timers() -> None:
    """qasync runs due callbacks whenever Qt processes events, also when no loop is running
    (its own run_until_complete ends with a processEvents, and so does pytest-qt's teardown);
    a task stepped there finds no running loop and dies. The app runs one loop forever, so only
    the tests, which run the loop step by step, need the running loop set around callbacks."""
    import qasync

    if getattr(qasync._SimpleTimer, "_studio_patched", False):
        return
    original = qasync._SimpleTimer.timerEvent

    def timer_event(self: Any, event: Any) -> None:
        if asyncio._get_running_loop() is None and _current and not _current[-1].is_closed():
            asyncio.events._set_running_loop(_current[-1])
            try:
                original(self, event)
            finally:
                asyncio.events._set_running_loop(None)
        else:
            original(self, event)

    qasync._SimpleTimer.timerEvent = timer_event
    qasync._SimpleTimer._studio_patched = True


@pytest.fixture
def aloop(qapp: Any) -> Iterator[Loop]:
    import qasync

    _patch_qasync_timers()
    qapp.setQuitOnLastWindowClosed(False)  # as in the app: closing a window ends no loop
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    _current.append(loop)
    try:
        yield Loop(loop)
    finally:
        _current.remove(loop)
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def studio_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "studio-config"
    monkeypatch.setenv("RUNGRAPH_STUDIO_CONFIG", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_gui_thread() -> Iterator[None]:
    """Collect each test's garbage here, on the GUI thread. Left to chance, Python's cycle
    collector may run in a worker thread (one that writes the identity directory, say) and
    destroy an unparented QObject there; a QObject's timers cannot be stopped from another
    thread, and the next one that fires finds its object gone (SIGSEGV)."""
    import gc

    yield
    gc.collect()


@pytest.fixture(autouse=True)
def no_local_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No credentials from the machine running the tests: an empty data folder (so no local
    auth store, and the embedded server's store is the test's) and no RUNGRAPH_* identity."""
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.delenv("RUNGRAPH_CREDS", raising=False)
    monkeypatch.delenv("RUNGRAPH_NAMESPACE", raising=False)
    return data


@pytest.fixture
def window(qtbot: Any, aloop: Loop, studio_config: Path) -> Iterator[Any]:
    from PySide6 import QtWidgets

    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    w = MainWindow(Settings.load(studio_config))
    w.files.ask = lambda title, text: QtWidgets.QMessageBox.StandardButton.Discard
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    try:
        yield w
    finally:
        aloop.run(w.run.stop_session(), timeout=30)
        aloop.run(w.run.idle(), timeout=30)
        w.undo.setClean()
        w.close()
        w.deleteLater()


def pytest_configure(config: pytest.Config) -> None:
    # NodeGraphQt 0.6.44 uses Qt APIs that PySide6 marks deprecated; not ours to fix
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:NodeGraphQt.*")


@pytest.fixture(scope="session", autouse=True)
def _qt_torn_down_before_python(qapp: Any) -> Iterator[None]:
    """Delete every widget while Qt is whole: left to interpreter shutdown, NodeGraphQt's scene
    items outlive the QApplication and the process crashes on exit (SIGSEGV, exit 139)."""
    yield
    import gc

    from PySide6 import QtCore, QtWidgets

    from studio_app.app import release_clipboard

    release_clipboard()  # what the app does on exit (see there)
    for widget in QtWidgets.QApplication.topLevelWidgets():
        widget.close()
        widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    qapp.processEvents()
    gc.collect()
