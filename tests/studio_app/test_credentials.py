"""Studio on a nats-server with authentication on: it connects with the local auth store's admin,
a chosen seed file or ``$RUNGRAPH_CREDS``, shows whom it is connected as, and disables what the
role may not do, with the reason in the tooltip. A viewer still sees live state; its Deploy
launches and sends nothing. On an open server the status bar says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import AuthStore, Identity, Role
from runtime.client import Client, launch_service, wait_answering
from runtime.client.credentials import find_service_credentials
from runtime.nats_server import NatsServer, default_store_dir, write_identity_directory
from runtime.protocol.envelope import ErrorCode
from runtime.protocol.graph import RunGraph
from studio_app.app import parse_args
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import CallFailed
from studio_app.document.catalog import Catalog
from studio_app.document.files import parse_document
from studio_app.main_window import DEPLOY_TIP, MainWindow
from studio_app.settings import Settings
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, live_count, state, status

pytestmark = [pytest.mark.integration, pytest.mark.gui]


@dataclass
class Secured:
    store: AuthStore
    server: NatsServer
    ids: dict[str, Identity]

    @property
    def url(self) -> str:
        return self.server.url

    def seed(self, who: str) -> Path:
        return self.store.seed_path(self.ids[who])


@pytest.fixture
def secured(no_local_identity: Path) -> Iterator[Secured]:
    """The local auth store (in the test's data folder, where Studio looks for it) with a viewer
    and an operator besides its admin, and a server running with its configuration."""
    store = AuthStore.open(default_store_dir())
    ids = {
        "viewer": store.issue(Role.viewer, "val"),
        "operator": store.issue(Role.operator, "olga"),
        "admin": store.ensure_admin(),
    }
    server = NatsServer(store_dir=store.store_dir, auth=store).start()
    try:
        assert write_identity_directory(server.url, store)
        yield Secured(store, server, ids)
    finally:
        server.stop()


@pytest.fixture
def main_running(secured: Secured, aloop: Any) -> Iterator[asyncio.subprocess.Process]:
    """Service ``main`` running TICK_SEQ_COUNTERS, started and deployed by an admin outside
    Studio (with the service's and the admin's identities of the local store)."""
    creds = find_service_credentials("main", "default", secured.store.store_dir)
    proc = aloop.run(launch_service(secured.url, "main", "rungraph.service", creds=creds))

    async def deploy() -> None:
        admin = await Client.connect(secured.url, creds=secured.seed("admin"))
        try:
            await wait_answering(admin, "main", 30, proc)
            await admin.deploy(RunGraph.model_validate(TICK_SEQ_COUNTERS), Catalog().registry)
        finally:
            await admin.close()

    try:
        aloop.run(deploy(), timeout=60)
        yield proc
    finally:
        proc.terminate()
        aloop.run(proc.wait(), timeout=10)


def set_rungraph_replies(window: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    window.bridge.reply.connect(
        lambda sid, call, outcome: seen.append((sid, outcome)) if call == "set_rungraph" else None)
    return seen


def test_with_the_local_admin_deploy_works_and_the_status_bar_says_admin_then_an_operator_file(
    secured: Secured, window: Any, aloop: Any
) -> None:
    window.nats_url = secured.url
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert window.identity_label.isHidden()  # not connected yet: nobody to name

    assert aloop.run(window.run.start_deploy(), timeout=90) is True

    assert window.identity_label.text() == "admin:admin @ default"
    assert not window.identity_label.isHidden()
    assert window.a_deploy.isEnabled()
    assert window.a_deploy.toolTip() == DEPLOY_TIP
    aloop.until(lambda: live_count(window.live, "a") >= 3, timeout=20, what="live counts")
    session = window.bridge.session
    assert session.processes["main"].returncode is None  # launched with its own identity

    # Run > Credentials…: an operator's file; the session reconnects and keeps its services
    window.choose_credentials(secured.seed("operator"))
    aloop.run(window.run.idle(), timeout=30)

    assert window.identity_label.text() == "operator:olga @ default"
    assert window.run.mode == RunMode.DEPLOY
    assert not window.a_deploy.isEnabled()
    assert window.a_deploy.toolTip() == "operator cannot deploy: needs admin"
    assert window.bridge.session is session
    assert session.processes["main"].returncode is None
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    switch = window.services.switches["main"]
    assert switch.isEnabled()  # an operator may toggle
    switch.setChecked(False)
    aloop.until(lambda: window.live.active("main") is False, timeout=10, what="main off")
    assert status(session, aloop)["active"] is False


def test_a_viewer_sees_live_state_but_cannot_deploy_toggle_or_edit(
    secured: Secured, main_running: Any, window: Any, aloop: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNGRAPH_CREDS", str(secured.seed("viewer")))
    window.nats_url = secured.url
    # "spare" runs nowhere: a Deploy allowed to would start a process for it
    spare = {**TICK_SEQ_COUNTERS, "services": [*TICK_SEQ_COUNTERS["services"],
                                               {"serviceId": "spare"}]}
    window.doc.replace(parse_document(spare))

    assert aloop.run(window.run.connect_nats(), timeout=30) is True

    assert window.identity_label.text() == "viewer:val @ default"
    assert not window.a_deploy.isEnabled()
    assert window.a_deploy.toolTip() == "viewer cannot deploy: needs admin"
    seen = live_count(window.live, "a")
    aloop.until(lambda: live_count(window.live, "a") >= seen + 3, timeout=20,
                what="live counts reaching a viewer")
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    switch = window.services.switches["main"]
    assert switch.isChecked()
    assert not switch.isEnabled()
    assert switch.toolTip() == "viewer cannot deactivate a service: needs operator"
    window.properties.show_item("a")
    step = window.properties.editors["step"]
    assert not step.isEnabled()
    assert step.toolTip().startswith("viewer cannot edit live state: needs operator")
    step.committed.emit(10)  # asked anyway: not sent, rolled back, and why
    aloop.run(window.run.idle())
    assert window.properties.error_label.text() == "viewer cannot edit live state: needs operator"

    # Deploy anyway (F7 is disabled; the slot is not): nothing is launched or sent
    session = window.bridge.session
    revision = status(session, aloop)["revision"]
    replies = set_rungraph_replies(window)
    assert aloop.run(window.run.start_deploy(), timeout=30) is False
    assert sorted(sid for sid, _ in replies) == ["main", "spare"]
    for _, refused in replies:
        assert isinstance(refused, CallFailed)
        assert refused.code == ErrorCode.FORBIDDEN
        assert refused.message == "viewer cannot deploy: needs admin"
    assert session.processes == {}
    assert status(session, aloop)["revision"] == revision
    assert state(session, aloop, "a", "step") != 10
    assert "step" not in window.doc.state_values("a")
    # and a toggle asked for anyway is not sent: main keeps running
    window.run.set_active("main", False)
    aloop.run(window.run.idle())
    assert status(session, aloop)["active"] is True
    assert any("deactivate not sent: viewer cannot" in line for line in window.log_view.lines)

    # Simulate runs in this process: a viewer's credentials do not matter to it
    assert aloop.run(window.run.start_simulation(), timeout=30) is True
    assert window.identity_label.isHidden()
    aloop.until(lambda: "main" in window.services.switches, what="the simulated row")
    assert window.services.switches["main"].isEnabled()


def test_an_open_server_says_so_and_refuses_nothing(
    nats_url: str, window: Any, aloop: Any
) -> None:
    window.nats_url = nats_url
    assert aloop.run(window.run.connect_nats(), timeout=30) is True

    assert window.identity_label.text() == "open server (no auth)"
    assert "authenticates nobody" in window.identity_label.toolTip()
    assert window.a_deploy.isEnabled()
    assert window.a_deploy.toolTip() == DEPLOY_TIP

    aloop.run(window.run.stop_session())
    assert window.identity_label.isHidden()
    assert window.session_info.connection is None


def test_another_namespace_connects_as_its_own_admin_and_shows_it(
    secured: Secured, window: Any, aloop: Any
) -> None:
    window.nats_url = secured.url
    window.run.namespace = "lab"  # as --namespace lab does

    assert aloop.run(window.run.connect_nats(), timeout=30) is True

    assert window.identity_label.text() == "admin:admin @ lab"
    lab_admin = secured.store.find("admin", "lab")
    assert lab_admin is not None  # issued on first use, like the default namespace's
    assert window.bridge.session.client.public_key == lab_admin.public_key


def test_a_credentials_file_the_server_refuses_leaves_studio_as_it_was(
    secured: Secured, window: Any, aloop: Any, tmp_path: Path
) -> None:
    window.nats_url = secured.url
    assert aloop.run(window.run.connect_nats(), timeout=30) is True
    assert window.identity_label.text() == "admin:admin @ default"
    stranger = AuthStore.open(tmp_path / "elsewhere").ensure_admin()  # not this server's
    seed = AuthStore.open(tmp_path / "elsewhere").seed_path(stranger)

    assert aloop.run(window.run.use_credentials(seed), timeout=30) is False

    assert window.identity_label.text() == "admin:admin @ default"
    assert window.run.mode == RunMode.DEPLOY
    assert any(f"cannot connect with {seed}" in line for line in window.log_view.lines)
    client = window.bridge.session.client  # the admin's connection goes on
    assert client.public_key == secured.ids["admin"].public_key
    assert client.transport.is_connected


def test_the_command_line_and_the_environment_name_the_credentials_and_namespace(
    qtbot: Any, studio_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = parse_args(["--creds", str(tmp_path / "val.nk"), "--namespace", "lab"])
    window = MainWindow(Settings.load(studio_config), creds=args.creds, namespace=args.namespace)
    qtbot.addWidget(window)

    session = window.run.make_deploy_session()

    assert (session.creds, session.namespace) == (tmp_path / "val.nk", "lab")
    monkeypatch.setenv("RUNGRAPH_NAMESPACE", "plant")
    plain = MainWindow(Settings.load(studio_config))
    qtbot.addWidget(plain)
    assert (plain.run.make_deploy_session().creds, plain.run.make_deploy_session().namespace) == (
        None, "plant")
