"""Studio's embedded nats-server keeps its state in a store of its own, under Studio's settings
folder, never in the command line's default store: a server ``rungraph nats`` started there is
neither reused nor touched, the README's headless flow after a Studio deploy restores nothing of
Studio's graph, a fresh store forgets what was deployed, and in per-document mode two documents
get two stores. Real nats-servers, real service processes."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client, launch_service, wait_answering
from runtime.client.credentials import find_service_credentials
from runtime.nats_server import NatsServer, default_store_dir, ensure_server, server_answers
from runtime.protocol.graph import RunGraph
from studio_app.bridge.sessions import DeploySession
from studio_app.bridge.store_isolation import (
    StoreBusy,
    StoreMode,
    running_server_url,
    store_admin,
    studio_store_dir,
    wipe_store,
)
from studio_app.document.catalog import Catalog
from studio_app.document.files import parse_document
from studio_app.settings import Settings
from tests.integration.test_readme_flow import ROOT, five_commands, wait_for

pytestmark = [pytest.mark.integration]

# Studio's graph, with node ids the README's example does not have: any of them seen by the
# headless flow came from Studio's store
STUDIO_GRAPH = {
    "graphId": "studio_tour",
    "services": [{"serviceId": "main", "serviceClass": "rungraph.service"}],
    "nodes": [
        {"nodeId": "tour_tick", "serviceId": "main", "class": "core.tick",
         "stateValues": {"tickMs": 20}, "ui": {"x": 0, "y": 0}},
        {"nodeId": "tour_count", "serviceId": "main", "class": "core.counter",
         "ui": {"x": 250, "y": 0}},
    ],
    "edges": [{"kind": "exec", "from": {"node": "tour_tick", "port": "out"},
               "to": {"node": "tour_count", "port": "in"}}],
}


def streams_in(store: Path) -> set[str]:
    """The JetStream streams (KV buckets among them) a server kept in ``store``."""
    return {p.name for p in store.glob("jetstream/*/streams/*") if p.is_dir()}


async def graph_of_a_started_service(url: str, store: Path) -> tuple[str, int]:
    """Start service ``main`` alone (no deploy) on the server at ``url`` with ``store``'s
    identities: the (graphId, node count) it restored from KV at start."""
    creds = await asyncio.to_thread(find_service_credentials, "main", "default", store)
    proc = await launch_service(url, "main", "rungraph.service", creds=creds)
    admin = await Client.connect(url, creds=await store_admin(store, "default"))
    try:
        await wait_answering(admin, "main", 30, proc)
        reply = await admin.call("main", "status")
        assert reply.ok, reply
        assert isinstance(reply.result, dict)
        return str(reply.result["graphId"]), int(reply.result["nodes"])
    finally:
        await admin.close()
        proc.terminate()
        await proc.wait()


# -- where the stores are ---------------------------------------------------------------------

def test_the_session_store_is_under_studios_settings_folder_not_the_cli_default(
    studio_config: Path,
) -> None:
    store = studio_store_dir(studio_config, Settings().store, None)

    assert store == studio_config / "nats-store" / "session"
    assert store != default_store_dir()
    # per session: every document uses it
    assert studio_store_dir(studio_config, StoreMode.SESSION, "/x/a.rungraph.json") == store


def test_per_document_mode_gives_two_documents_two_stores_and_one_document_one(
    studio_config: Path, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.rungraph.json", tmp_path / "sub" / "a.rungraph.json"

    store_a = studio_store_dir(studio_config, "document", a)
    store_b = studio_store_dir(studio_config, "document", b)

    assert store_a != store_b  # same file name, other folder: another store
    assert store_a.parent == store_b.parent == studio_config / "nats-store"
    assert store_a.name.startswith("doc-a-")
    same = tmp_path / "." / "a.rungraph.json"
    assert studio_store_dir(studio_config, "document", same) == store_a
    # untitled: the session store; an unknown setting: the session store too
    assert studio_store_dir(studio_config, "document", None).name == "session"
    assert studio_store_dir(studio_config, "per-moon", a).name == "session"


def test_wipe_refuses_the_cli_store_and_a_store_a_server_runs_with(studio_config: Path) -> None:
    cli_store = default_store_dir()
    cli_store.mkdir(parents=True)
    with pytest.raises(ValueError, match="not one of Studio's NATS stores"):
        wipe_store(cli_store, studio_config)
    assert cli_store.is_dir()

    store = studio_store_dir(studio_config, "session")
    url, server = ensure_server(None, store)  # as Studio starts it
    assert server is not None
    try:
        assert running_server_url(store) == url
        with pytest.raises(StoreBusy, match="still runs"):
            wipe_store(store, studio_config)
        assert (store / "auth").is_dir()
    finally:
        server.stop()
    assert running_server_url(store) is None
    assert wipe_store(store, studio_config) is True
    assert not store.exists()
    assert wipe_store(store, studio_config) is False  # nothing left to delete


# -- Studio beside the command line -----------------------------------------------------------

@pytest.mark.gui
def test_studio_deploys_on_its_own_store_and_leaves_a_cli_server_and_store_alone(
    window: Any, aloop: Any, studio_config: Path
) -> None:
    cli_url, cli = ensure_server(None, default_store_dir())  # `rungraph nats`, default store
    assert cli is not None
    assert cli.auth is not None
    cli_identities = cli.auth.identities_path.read_bytes()
    lines: list[str] = []
    window.bridge.log_line.connect(lambda level, source, text: lines.append(text))
    try:
        window.doc.replace(parse_document(STUDIO_GRAPH))
        assert aloop.run(window.run.start_deploy(), timeout=90) is True

        session = window.bridge.session
        assert isinstance(session, DeploySession)
        assert session.store_dir == studio_config / "nats-store" / "session"
        assert session.server is not None  # started its own: the CLI's was not reused
        assert session.url != cli_url
        assert f"NATS at {session.url} (started, Studio store {session.store_dir})" in lines
        assert window.identity_label.text() == "admin:admin @ default"  # its own store's admin
        assert "KV_svc_main" in streams_in(session.store_dir)  # the service's graph and state
        aloop.run(window.run.stop_session(), timeout=30)

        assert cli.running
        assert running_server_url(default_store_dir()) == cli_url
        assert cli.auth.identities_path.read_bytes() == cli_identities  # no identity issued
        assert "KV_svc_main" not in streams_in(default_store_dir())
    finally:
        cli.stop()


@pytest.mark.gui
def test_a_reopened_session_resumes_the_store_and_a_fresh_store_forgets_it(
    window: Any, aloop: Any, studio_config: Path
) -> None:
    window.doc.replace(parse_document(STUDIO_GRAPH))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    store = window.bridge.session.store_dir
    aloop.run(window.run.stop_session(), timeout=30)

    # reuse: a later session's server on the same store gives the service its graph back
    assert aloop.run(window.run.connect_nats(), timeout=60) is True
    url = window.bridge.session.url
    assert aloop.run(graph_of_a_started_service(url, store), timeout=60) == ("studio_tour", 2)

    assert aloop.run(window.run.fresh_store(), timeout=60) is True
    assert window.bridge.session is None  # the embedded server was stopped first
    assert not store.exists()

    assert aloop.run(window.run.connect_nats(), timeout=60) is True
    url = window.bridge.session.url
    graph_id, nodes = aloop.run(graph_of_a_started_service(url, store), timeout=60)
    assert (graph_id, nodes) != ("studio_tour", 2)
    assert nodes == 0


@pytest.mark.gui
def test_fresh_store_is_refused_for_an_external_server(window: Any, aloop: Any) -> None:
    window.nats_url = "nats://127.0.0.1:1"
    statuses: list[str] = []
    window.run.status.connect(statuses.append)

    assert aloop.run(window.run.fresh_store()) is False
    assert statuses[-1] == "fresh NATS store: not with an external server (Run > NATS Server…)"
    session = window.run.make_deploy_session()
    assert session.store_dir is None
    assert not session.studio_store


@pytest.mark.gui
def test_in_per_document_mode_each_saved_document_deploys_on_its_own_store(
    window: Any, tmp_path: Path, studio_config: Path
) -> None:
    window.settings.store = "document"
    window.doc.replace(parse_document(STUDIO_GRAPH))
    untitled = window.run.make_deploy_session().store_dir
    assert window.files.save_as(str(tmp_path / "one.rungraph.json"))
    one = window.run.make_deploy_session().store_dir
    assert window.files.save_as(str(tmp_path / "two.rungraph.json"))
    two = window.run.make_deploy_session().store_dir
    assert window.files.open(str(tmp_path / "one.rungraph.json"))

    assert untitled == studio_config / "nats-store" / "session"
    assert len({untitled, one, two}) == 3
    assert window.run.make_deploy_session().store_dir == one  # reopened: the same store


# -- the README's headless flow after a Studio deploy -----------------------------------------

def test_the_readme_flow_after_a_studio_deploy_restores_nothing_of_studios_graph(
    aloop: Any, studio_config: Path, tmp_path: Path
) -> None:
    """Studio deploys (with HOME's data and config folders the flow's), then the README's five
    commands run in the same folders: the service starts empty, and nothing of Studio's graph
    shows up in the deploy's reply or the watched state."""
    session = DeploySession(Catalog().registry, None,
                            store_dir=studio_store_dir(studio_config, "session"),
                            studio_store=True)
    aloop.run(session.open(), timeout=60)
    try:
        aloop.run(session.load(RunGraph.model_validate(STUDIO_GRAPH)), timeout=90)
    finally:
        aloop.run(session.close(), timeout=30)

    probe = NatsServer(store_dir=tmp_path / "probe").start()
    url = probe.url
    probe.stop()  # a free port for the user's "default" server
    env = {**os.environ, "RUNGRAPH_NATS": url}  # XDG_DATA_HOME and the Studio config as above
    background: list[subprocess.Popen[bytes]] = []
    outputs: list[str] = []
    try:
        commands = five_commands()
        for line in commands[:2]:  # nats &, service &
            background.append(subprocess.Popen(shlex.split(line.rstrip("&").strip()), cwd=ROOT,
                                               env=env, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
            wait_for(lambda: server_answers(url), "NATS")
        first = [".venv/bin/rungraph", "status", "main"]
        wait_for(lambda: subprocess.run(first, cwd=ROOT, env=env, capture_output=True)
                 .returncode == 0, "the service")
        before = json.loads(subprocess.run(first, cwd=ROOT, env=env, capture_output=True,
                                           text=True, timeout=60).stdout)
        for line in commands[2:4]:  # deploy, watch
            done = subprocess.run(shlex.split(line), cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, f"{line}: {done.stderr}"
            outputs.append(done.stdout)
    finally:
        for proc in reversed(background):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    assert before["graphId"] != "studio_tour"
    assert before["nodes"] == 0  # nothing restored
    deployed, watched = outputs
    assert "tour_" not in deployed
    events = [json.loads(x) for x in watched.splitlines()]
    assert len(events) == 8
    assert [e["key"] for e in events if e["op"] != "PUT"] == []  # no DEL of an earlier graph
    assert {e["nodeId"] for e in events} - {None} <= {"tick", "seq", "delay", "a", "b"}


@pytest.mark.gui
@pytest.mark.parametrize(("answer", "kept"), [("No", True), ("Yes", False)])
def test_run_menus_fresh_store_asks_first(
    window: Any, aloop: Any, monkeypatch: pytest.MonkeyPatch, answer: str, kept: bool
) -> None:
    from PySide6 import QtWidgets

    store = window.run.studio_store()
    (store / "jetstream").mkdir(parents=True)
    asked: list[str] = []

    def question(parent: Any, title: str, text: str) -> QtWidgets.QMessageBox.StandardButton:
        asked.append(text)
        return getattr(QtWidgets.QMessageBox.StandardButton, answer)

    monkeypatch.setattr(QtWidgets.QMessageBox, "question", question)
    run_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Run")
    assert window.a_fresh in run_menu.actions()

    window.a_fresh.trigger()
    aloop.run(window.run.idle())

    assert len(asked) == 1
    assert str(store) in asked[0]
    assert store.exists() is kept
