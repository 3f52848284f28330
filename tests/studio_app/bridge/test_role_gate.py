"""What Studio lets an identity do is what the services would let it do: the gate asks the
runtime's role-per-call table, and says why a call is refused in words a tooltip can show."""

from __future__ import annotations

import pytest

from runtime.auth import Identity, Role
from studio_app.bridge.role_gate import OpenGate, RoleGate, connection_of
from studio_app.document.session_info import OPEN_SERVER

KEY = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"


def person(role: Role, name: str = "pat", namespace: str = "default") -> Identity:
    return Identity(name, role, namespace, None, KEY, "2025-01-31T12:00:00Z")


def gate(role: Role) -> RoleGate:
    return RoleGate(KEY, person(role))


@pytest.mark.parametrize("call", ["status", "get_state", "get_rungraph", "describe"])
@pytest.mark.parametrize("role", [Role.viewer, Role.operator, Role.admin])
def test_every_person_may_read(role: Role, call: str) -> None:
    assert gate(role).refusal(call, "main") is None


def test_a_viewer_may_change_nothing_and_is_told_which_role_could() -> None:
    viewer = gate(Role.viewer)

    assert viewer.refusal("set_rungraph", "main") == "viewer cannot deploy: needs admin"
    assert viewer.refusal("activate", "main") == (
        "viewer cannot activate a service: needs operator")
    assert viewer.refusal("deactivate", "main") == (
        "viewer cannot deactivate a service: needs operator")
    assert viewer.refusal("set_state", "main") == "viewer cannot edit live state: needs operator"
    assert viewer.refusal("reload_model", "gpu") == (
        "viewer cannot call the command 'reload_model': needs operator")


def test_an_operator_may_toggle_edit_and_command_but_not_deploy() -> None:
    operator = gate(Role.operator)

    for call in ("activate", "deactivate", "set_state", "reload_model"):
        assert operator.refusal(call, "main") is None
    assert operator.refusal("set_rungraph", "main") == "operator cannot deploy: needs admin"


def test_an_admin_may_do_everything() -> None:
    admin = gate(Role.admin)

    for call in ("set_rungraph", "activate", "deactivate", "set_state", "reload_model"):
        assert admin.refusal(call, "main") is None
    assert admin.refusal("set_rungraph", "") is None  # a deploy names no one service


def test_a_key_the_directory_does_not_know_may_only_read() -> None:
    unknown = RoleGate(KEY, None)

    assert unknown.refusal("status", "main") is None
    assert unknown.refusal("activate", "main") == (
        "an unknown identity cannot activate a service: needs operator")


def test_an_open_server_refuses_nothing_and_says_it_is_open() -> None:
    connection = connection_of("nats://127.0.0.1:4222", "default", None, None)

    assert connection.gate == OpenGate()
    assert connection.gate.refusal("set_rungraph", "main") is None
    assert not connection.authenticated
    assert connection.label == OPEN_SERVER == "open server (no auth)"


def test_an_identity_is_shown_as_role_name_at_its_namespace() -> None:
    connection = connection_of("nats://h:1", "default", KEY, person(Role.admin, "alice", "lab"))

    assert connection.label == "admin:alice @ lab"  # its credentials decide the namespace
    assert KEY in connection.details
    assert connection_of("nats://h:1", "lab", KEY, None).label == "unknown identity @ lab"
