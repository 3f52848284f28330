"""Admin-only state fields (``State(..., admin=True)``, a Python Script's code): who may
``set_state`` them. The same check through a real service and nats-server with auth is in
tests/integration/test_script_service.py."""

from __future__ import annotations

import pytest

from node_library.script import PythonScript
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.service.access import admin_only, authorize_field
from tests.runtime.service.test_access import ADMIN, OPERATOR, OTHER, OWN

NODES = {"py": PythonScript("py")}


def args(field: str = "code") -> dict[str, object]:
    return {"nodeId": "py", "field": field, "value": "def compute(inputs):\n    return 2\n"}


def test_only_the_script_code_is_admin_only():
    assert admin_only(NODES["py"], "code")
    assert not admin_only(NODES["py"], "nope")


@pytest.mark.parametrize("who", [ADMIN, OWN])
def test_an_admin_or_the_service_itself_may_set_an_admin_only_field(who):
    authorize_field(who, "set_state", args(), NODES, "s1")  # raises when refused


@pytest.mark.parametrize("who", [OPERATOR, OTHER])
def test_anyone_else_is_refused_naming_the_field(who):
    with pytest.raises(CommandError, match=r"may not change py\.code on service 's1'") as info:
        authorize_field(who, "set_state", args(), NODES, "s1")

    assert info.value.code is ErrorCode.FORBIDDEN
    assert info.value.details["needs"] == "admin"


@pytest.mark.parametrize(("call", "arguments"), [
    ("set_state", {"nodeId": "py", "field": "other", "value": 1}),
    ("set_state", {"nodeId": "ghost", "field": "code", "value": 1}),
    ("activate", {}),
])
def test_other_fields_nodes_and_calls_are_left_to_the_role_table(call, arguments):
    authorize_field(OPERATOR, call, arguments, NODES, "s1")  # raises when refused
