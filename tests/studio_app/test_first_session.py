"""The issue's "done when", as a new user would do it: drag Tick, Sequence and two Counters from
the palette, wire them with the mouse, Simulate and watch the counters rise; save, reopen, Deploy
to the embedded server (started on demand, with authentication on) and switch the service off
and on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from tests.studio_app.helpers import drag, port_center, status

pytestmark = [pytest.mark.integration, pytest.mark.gui]


def drop_from_palette(window: Any, label: str, at: QtCore.QPoint) -> str:
    tree = window.palette_panel.tree
    item = next(
        i
        for i in tree.findItems(label, QtCore.Qt.MatchFlag.MatchRecursive)
        if i.data(0, QtCore.Qt.ItemDataRole.UserRole)
    )
    mime = tree.mimeData([item])
    viewport = window.canvas.viewer.viewport()
    before = set(window.doc.ids())
    args = (
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(viewport, QtGui.QDragEnterEvent(at, *args))
    QtWidgets.QApplication.sendEvent(viewport, QtGui.QDropEvent(QtCore.QPointF(at), *args))
    (new,) = set(window.doc.ids()) - before - {"main"}
    return new


def counts(window: Any, *ids: str) -> list[int]:
    return [int(window.canvas.item(i).values.get("count") or 0) for i in ids]


def test_a_first_session_from_empty_canvas_to_deployed_service(
    window: Any, aloop: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the embedded server's store
    viewer = window.canvas.viewer
    viewer.set_zoom(0)
    tick = drop_from_palette(window, "Tick", QtCore.QPoint(120, 200))
    seq = drop_from_palette(window, "Sequence", QtCore.QPoint(380, 200))
    a = drop_from_palette(window, "Counter", QtCore.QPoint(640, 80))
    b = drop_from_palette(window, "Counter", QtCore.QPoint(640, 330))
    assert window.doc.service_ids() == ["main"]  # the first node brought a service
    window.properties.show_item(tick)
    window.properties.editors["tickMs"].committed.emit(20)

    for (src, out), (dst, inp) in [
        ((tick, "exec:out"), (seq, "exec:in")),
        ((seq, "exec:then0"), (a, "exec:in")),
        ((seq, "exec:then1"), (b, "exec:in")),
    ]:
        drag(viewer, port_center(window, src, out, "out"), port_center(window, dst, inp, "in"))
    assert len(window.doc.graph.edges) == 3

    window.a_sim.trigger()
    aloop.until(lambda: min(counts(window, a, b)) >= 3, what="counters rising in Simulate")
    aloop.run(window.run.stop_session())

    path = tmp_path / "first.rungraph.json"
    assert window.files.save_as(str(path))
    assert window.files.open(str(path))
    assert len(window.doc.graph.edges) == 3

    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    session = window.bridge.session
    assert session.server is not None  # the embedded server, started on demand
    assert session.server.auth is not None  # secure by default, with the local store's admin
    assert window.identity_label.text() == "admin:admin @ default"
    aloop.until(lambda: min(counts(window, a, b)) >= 3, timeout=20, what="live counts")
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    window.services.switches["main"].setChecked(False)
    aloop.until(lambda: window.canvas.item(a).opacity() < 1.0, what="the service off")
    # the service's own clock (uptimeS) is the witness: over 10 of its 20 ms tick periods,
    # its pass count holds
    off = status(session, aloop)
    assert off["active"] is False
    later = off
    while later["uptimeS"] < off["uptimeS"] + 10 * 0.020:
        later = status(session, aloop)
    assert later["passes"] == off["passes"]
    held = counts(window, a)[0]
    window.services.switches["main"].setChecked(True)
    aloop.until(lambda: counts(window, a)[0] > held, what="the service on again")
