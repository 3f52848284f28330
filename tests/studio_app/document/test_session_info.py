"""The session-info model tells its observers when the connection changes, and refuses nothing
while nothing is connected (editing, Simulate)."""

from __future__ import annotations

from studio_app.document.session_info import Connection, SessionInfo, Who


class Refuses:
    """A gate that refuses one call."""

    def __init__(self, call: str) -> None:
        self.call = call

    def refusal(self, call: str, service_id: str) -> str | None:
        return f"not {call} on {service_id}" if call == self.call else None


def test_nothing_is_refused_without_a_connection() -> None:
    info = SessionInfo()

    assert info.connection is None
    assert info.refusal("set_rungraph") is None


def test_a_connection_is_announced_once_and_decides_through_its_gate() -> None:
    info = SessionInfo()
    changes: list[Connection | None] = []
    info.events.changed.connect(lambda: changes.append(info.connection))
    connection = Connection("nats://h:1", "default", "UKEY", Who("val", "viewer"),
                            Refuses("activate"))

    info.set_connection(connection)
    info.set_connection(connection)

    assert changes == [connection]
    assert info.refusal("activate", "main") == "not activate on main"
    assert info.refusal("status", "main") is None
    assert connection.label == "viewer:val @ default"


def test_clearing_ends_the_refusals() -> None:
    info = SessionInfo()
    info.set_connection(Connection("nats://h:1", "default", "UKEY", None, Refuses("activate")))
    changes: list[Connection | None] = []
    info.events.changed.connect(lambda: changes.append(info.connection))

    info.clear()

    assert changes == [None]
    assert info.refusal("activate", "main") is None
