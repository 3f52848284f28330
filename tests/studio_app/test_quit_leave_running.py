"""Quitting while deployed offers to leave the services running: the service process and the
nats-server Studio started outlive the window (and what Studio does at exit), the log says where
they are, and Connect reaches them again. Real nats-server, real service process."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets

from runtime.client import Client
from studio_app.bridge.sessions import DeploySession
from studio_app.bridge.store_isolation import running_server_url, store_admin
from studio_app.document.files import parse_document
from studio_app.document.live_state import ServiceStatus
from studio_app.panels.quit_dialog import LEAVE_TEXT, QuitChoice, ask_quit
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

pytestmark = [pytest.mark.gui]


def stop_pid(pid: int) -> None:
    """Terminate a process this test left running, and reap it (kill it after 10 s)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # reaped already (subprocess's own clean-up)
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


class ExitHandlers(list[Callable[[], Any]]):
    """What would run when Studio's interpreter exits (``atexit``), kept here instead."""

    def register(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        self.append(fn)
        return fn

    def unregister(self, fn: Callable[[], Any]) -> None:
        self[:] = [h for h in self if h != fn]


@pytest.fixture
def exit_handlers(monkeypatch: pytest.MonkeyPatch) -> ExitHandlers:
    handlers = ExitHandlers()
    monkeypatch.setattr(atexit, "register", handlers.register)
    monkeypatch.setattr(atexit, "unregister", handlers.unregister)
    return handlers


async def status_of(url: str, store: Path) -> dict[str, Any]:
    """``status`` of service ``main``, asked by a fresh client with the store's admin."""
    client = await Client.connect(url, creds=await store_admin(store, "default"))
    try:
        reply = await client.call("main", "status", timeout=5.0)
    finally:
        await client.close()
    assert reply.ok, reply
    assert isinstance(reply.result, dict)
    return reply.result


@pytest.mark.integration
def test_leave_running_keeps_the_service_and_the_server_studio_started_after_it_quits(
    window: Any, aloop: Any, exit_handlers: ExitHandlers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True  # on Studio's own server
    session = window.bridge.session
    assert isinstance(session, DeploySession)
    assert session.server is not None
    url, store = session.url, session.store_dir
    assert url is not None
    assert store is not None
    pids = [session.processes["main"].pid, session.server.pid]
    # the service's output reaches the log (followed from its log file), as service main's
    aloop.until(lambda: any(e.service == "main" for e in window.log_view.entries),
                timeout=30, what="a line of service main's output in the log")
    asked: list[list[str]] = []
    window.confirm_quit = lambda stops: asked.append(stops) or QuitChoice.LEAVE
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    try:
        with caplog.at_level(logging.WARNING):
            window.close()
            aloop.until(lambda: closed, timeout=30, what="the window closed")
        assert asked == [["service main", "the embedded NATS server"]]
        assert window.bridge.session is None
        said = [r.getMessage() for r in caplog.records if "left running" in r.getMessage()]
        assert len(said) == 1
        assert url in said[0]
        assert str(store) in said[0]
        assert "Run > Connect to NATS" in said[0]

        # what Studio's exit does: collect what it dropped and run its exit handlers
        del session
        gc.collect()
        for handler in list(exit_handlers):
            handler()

        for pid in pids:
            os.kill(pid, 0)  # raises ProcessLookupError if it died
        result = aloop.run(status_of(url, store), timeout=30)
        assert result["graphId"] == "demo"
        assert result["active"] is True

        # a later Studio finds the server on its store, and Connect shows the service again
        assert running_server_url(store) == url
        assert aloop.run(window.run.connect_nats(), timeout=60) is True
        rows = aloop.run(window.bridge.session.status_rows(), timeout=30)
        assert [(r.service_id, r.status) for r in rows] == [("main", ServiceStatus.ACTIVE)]
        aloop.run(window.run.stop_session(), timeout=30)  # disconnects: stops nothing of theirs
        assert aloop.run(status_of(url, store), timeout=30)["graphId"] == "demo"
    finally:
        for pid in pids:
            stop_pid(pid)


def test_the_quit_question_offers_stop_leave_and_cancel_and_says_where(
    window: Any, qtbot: Any
) -> None:
    seen: dict[str, Any] = {}

    def answer() -> None:
        box = QtWidgets.QApplication.activeModalWidget()
        assert isinstance(box, QtWidgets.QMessageBox)
        seen["buttons"] = sorted(b.text() for b in box.buttons())
        seen["text"] = box.informativeText()
        leave = next(b for b in box.buttons() if b.text() == LEAVE_TEXT)
        leave.click()

    QtCore.QTimer.singleShot(0, answer)
    choice = ask_quit(window, ["service main"], "NATS at nats://127.0.0.1:4222 (store /s)")

    assert choice is QuitChoice.LEAVE
    assert seen["buttons"] == ["Cancel", LEAVE_TEXT, "Stop and quit"]
    assert "service main" in seen["text"]
    assert "nats://127.0.0.1:4222 (store /s)" in seen["text"]
    assert "Run > Connect to NATS" in seen["text"]
