"""The identity label names whom Studio is connected as, says when a server is open, and hides
while nothing is connected."""

from __future__ import annotations

from typing import Any

from runtime.auth import Identity, Role
from studio_app.bridge.role_gate import connection_of
from studio_app.document.session_info import SessionInfo
from studio_app.panels.identity import OPEN_COLOR, QtIdentityLabel

KEY = "UKEYALICE"


def test_the_label_follows_the_connection(qtbot: Any) -> None:
    info = SessionInfo()
    label = QtIdentityLabel(info)
    qtbot.addWidget(label)
    assert label.isHidden()

    alice = Identity("alice", Role.admin, "default", None, KEY, "2025-01-31T12:00:00Z")
    info.set_connection(connection_of("nats://h:1", "default", KEY, alice))
    assert not label.isHidden()
    assert label.text() == "admin:alice @ default"
    assert KEY in label.toolTip()

    info.set_connection(connection_of("nats://h:1", "default", None, None))
    assert label.text() == "open server (no auth)"
    assert OPEN_COLOR in label.styleSheet()

    info.clear()
    assert label.isHidden()
    assert label.text() == ""
