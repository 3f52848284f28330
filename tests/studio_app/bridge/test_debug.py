"""The debugger's typed records read from the wire, and who may restore a moment."""

from __future__ import annotations

from runtime.auth.identity import Identity, Role
from studio_app.bridge.debug import DebugState, NodeStats, ServiceDebug, restore_refusal
from studio_app.bridge.role_gate import connection_of

STATUS = {
    "paused": {
        "node": "p",
        "ctxId": 7,
        "reason": "step",
        "inputs": {"value": 3, "big": "ab"},
        "truncated": ["big"],
        "since": 1_700_000_000_000,
        "heldPasses": 2,
    },
    "breakpoints": [
        {"node": "a", "when": None, "hits": 4, "errors": 0},
        {"node": "p", "when": "value > 2", "hits": 1, "errors": 2, "lastError": "NameError: x"},
    ],
}


def test_a_status_reads_as_the_pause_and_the_breakpoints_of_its_service() -> None:
    state = DebugState(
        {
            "main": ServiceDebug.from_wire("main", STATUS),
            "other": ServiceDebug.from_wire("other", {"paused": None}),
        }
    )
    paused = state.paused
    assert paused is not None
    assert (paused.service_id, paused.node, paused.ctx_id, paused.reason) == (
        "main",
        "p",
        7,
        "step",
    )
    assert paused.inputs == {"value": 3, "big": "ab"}
    assert paused.truncated == ("big",)
    assert paused.held_passes == 2
    assert [(b.service_id, b.node, b.when) for b in state.breakpoints] == [
        ("main", "a", None),
        ("main", "p", "value > 2"),
    ]
    p = state.breakpoint("p")
    assert p is not None
    assert (p.hits, p.errors, p.last_error) == (1, 2, "NameError: x")
    assert state.breakpoint("zz") is None


def test_a_service_not_paused_has_no_pause() -> None:
    assert (
        DebugState(
            {"main": ServiceDebug.from_wire("main", {"paused": None, "breakpoints": []})}
        ).paused
        is None
    )


def test_a_stats_row_keeps_missing_times_as_unknown() -> None:
    row = NodeStats.from_wire(
        "main",
        {
            "node": "a",
            "class": "core.counter",
            "passes": 3,
            "passesPerS": 1.5,
            "execP50Us": None,
            "execP99Us": 12.0,
            "timeShare": 0.25,
        },
    )
    assert row == NodeStats("main", "a", "core.counter", 3, 1.5, None, 12.0, 0.25)


def identity(role: Role) -> Identity:
    return Identity("ann", role, "default", None, "UKEY", "2026-01-01T00:00:00Z")


def test_only_an_admin_may_restore_a_moment_on_a_secured_server() -> None:
    url = "nats://127.0.0.1:4222"
    assert restore_refusal(None) is None  # nothing connected: nothing to refuse
    assert restore_refusal(connection_of(url, "default", None, None)) is None  # open server
    assert restore_refusal(connection_of(url, "default", "UKEY", identity(Role.admin))) is None
    refusal = restore_refusal(connection_of(url, "default", "UKEY", identity(Role.operator)))
    assert refusal == "operator cannot restore state: needs admin"
    unknown = restore_refusal(connection_of(url, "default", "UKEY", None))
    assert unknown is not None
    assert "needs admin" in unknown
