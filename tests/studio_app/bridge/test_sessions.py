"""A call's outcome reaches the UI typed: the service's reply, or a CallFailed whose code comes from
the client's error class (NOT_FOUND, TIMEOUT), never from its wording. Calls go over a real
Simulate session on the memory transport; Deploy's refusals over a client that raises them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime.client import CallTimeout, DeployError
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.protocol.problems import Problem, ProblemKind
from runtime.transport.base import Msg
from studio_app.bridge.adapter import SessionBridge
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import CallFailed, Outcome, fault_of
from studio_app.bridge.sessions import DeployRefused, DeploySession, SimSession, row_from_status
from studio_app.document.catalog import Catalog
from studio_app.document.live_state import LiveState, ServiceStatus
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

Reply = tuple[str, str, Outcome]


@pytest.fixture
def bridge(aloop: Any) -> Iterator[SessionBridge]:
    bridge = SessionBridge(LiveState())
    session = SimSession(Catalog().registry)
    aloop.run(session.open())
    aloop.run(session.load(RunGraph.model_validate(TICK_SEQ_COUNTERS)))
    aloop.run(bridge.attach(session))
    try:
        yield bridge
    finally:
        aloop.run(bridge.close())


def replies_of(bridge: SessionBridge) -> list[Reply]:
    seen: list[Reply] = []
    bridge.reply.connect(lambda sid, call, outcome: seen.append((sid, call, outcome)))
    return seen


def test_a_call_to_a_service_that_is_not_running_fails_with_not_found(
    bridge: SessionBridge, aloop: Any
) -> None:
    seen = replies_of(bridge)

    outcome = aloop.run(bridge.call("ghost", "status"))

    assert outcome == seen[-1][2]
    assert isinstance(outcome, CallFailed)
    assert (outcome.service_id, outcome.call, outcome.code) == (
        "ghost",
        "status",
        ErrorCode.NOT_FOUND,
    )


def test_a_service_that_does_not_answer_in_time_fails_with_timeout(
    bridge: SessionBridge, aloop: Any
) -> None:
    session = bridge.session
    assert isinstance(session, SimSession)

    async def mute(msg: Msg) -> None:
        """Takes every request and never replies."""

    listener = session.sim.hub.connect()
    aloop.run(listener.subscribe("svc.mute.cmd", mute))
    seen = replies_of(bridge)

    outcome = aloop.run(bridge.call("mute", "status", timeout=0.2))

    assert seen == [("mute", "status", outcome)]
    assert isinstance(outcome, CallFailed)
    assert outcome.code == ErrorCode.TIMEOUT


def test_a_timeout_marks_a_known_services_row(bridge: SessionBridge, aloop: Any) -> None:
    session = bridge.session
    assert isinstance(session, SimSession)
    assert bridge.live.services["main"].status == ServiceStatus.ACTIVE

    async def mute(msg: Msg) -> None:
        """A second responder on main's subject: it takes requests and never replies."""

    aloop.run(session.sim.hub.connect().subscribe("svc.main.cmd", mute))
    aloop.run(session.sim.stop())  # main itself goes quiet; the mute responder stays

    outcome = aloop.run(bridge.call("main", "status", timeout=0.2))

    fault = fault_of(outcome)
    assert fault is not None
    assert fault.code == ErrorCode.TIMEOUT
    assert bridge.live.services["main"].status == ServiceStatus.TIMEOUT


def test_a_refusal_reaches_the_ui_as_the_services_reply(bridge: SessionBridge, aloop: Any) -> None:
    outcome = aloop.run(bridge.set_state("a", "main", "count", 5))  # count is read-only

    assert isinstance(outcome, CommandReply)
    assert outcome.ok is False
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.FORBIDDEN


def test_a_call_with_nothing_running_fails_with_not_found(qtbot: Any, aloop: Any) -> None:
    bridge = SessionBridge(LiveState())
    assert bridge.mode == RunMode.IDLE

    outcome = aloop.run(bridge.call("main", "status"))

    assert isinstance(outcome, CallFailed)
    assert outcome.code == ErrorCode.NOT_FOUND


def test_closing_the_session_empties_the_live_state(bridge: SessionBridge, aloop: Any) -> None:
    live = bridge.live
    aloop.until(lambda: live.is_live("a"), what="a's live values")
    assert bridge.mode == RunMode.SIMULATE
    cleared: list[bool] = []
    live.events.cleared.connect(lambda: cleared.append(True))

    aloop.run(bridge.close())

    assert cleared == [True]
    assert not live.is_live("a")
    assert live.services == {}
    assert bridge.mode == RunMode.IDLE


# -- Deploy: what the client raises becomes DeployRefused, typed ----------------------------------
class RefusingClient:
    """Stands in for runtime.client.Client: its deploy raises what it was given."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def deploy(self, graph: RunGraph, registry: Any) -> dict[str, CommandReply]:
        raise self.error

    async def close(self) -> None:
        pass


def deploy_with(error: Exception, aloop: Any) -> DeployRefused:
    session = DeploySession(Catalog().registry, None, launch_missing=False)
    session.client = RefusingClient(error)  # type: ignore[assignment]
    with pytest.raises(DeployRefused) as caught:
        aloop.run(session.load(RunGraph.model_validate(TICK_SEQ_COUNTERS)))
    return caught.value


def test_a_refused_part_brings_the_replies_and_the_problems_it_lists(aloop: Any) -> None:
    problem = Problem("node 'a': no port 'zz'", "a", kind=ProblemKind.NO_PORT, port="zz")
    refusal = CommandReply.failure(
        "r1", ErrorCode.INVALID_ARGS, "rungraph refused", {"problems": [problem.to_dict()]}
    )
    taken = CommandReply.success("r2", {"revision": 2})

    refused = deploy_with(DeployError({"main": refusal, "cam": taken}, ["cam"]), aloop)

    assert refused.outcomes == {"main": refusal, "cam": taken}
    assert refused.rolled_back == ["cam"]
    assert refused.problems == [problem]
    assert str(refused) == "deploy refused by main: rungraph refused (rolled back: cam)"


def test_a_service_that_does_not_answer_a_deploy_is_a_typed_failure(aloop: Any) -> None:
    refused = deploy_with(CallTimeout("main", "get_rungraph", 5.0), aloop)

    ((sid, failed),) = refused.outcomes.items()
    assert sid == "main"
    assert isinstance(failed, CallFailed)
    assert failed.code == ErrorCode.TIMEOUT
    assert refused.problems == []


@pytest.mark.parametrize(
    ("outcome", "status", "last_error"),
    [
        (CommandReply.success("r", {"active": True, "passes": 7}), ServiceStatus.ACTIVE, ""),
        (CommandReply.success("r", {"active": False}), ServiceStatus.INACTIVE, ""),
        (CallFailed("main", "status", ErrorCode.TIMEOUT, "late"), ServiceStatus.TIMEOUT, "late"),
        (CallFailed("main", "status", ErrorCode.NOT_FOUND, "gone"), ServiceStatus.OFFLINE, "gone"),
        (
            CommandReply.failure("r", ErrorCode.INTERNAL, "broken"),
            ServiceStatus.OFFLINE,
            "broken",
        ),
    ],
)
def test_a_status_outcome_becomes_a_row(
    outcome: Outcome, status: ServiceStatus, last_error: str
) -> None:
    graph = RunGraph.model_validate(TICK_SEQ_COUNTERS)

    row = row_from_status("main", outcome, graph)

    assert (row.service_id, row.service_class) == ("main", "rungraph.service")
    assert (row.status, row.last_error) == (status, last_error)
