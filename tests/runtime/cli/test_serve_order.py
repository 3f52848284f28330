"""``rungraph serve`` starts a service's dependencies before it: the order comes from each
service class's ``dependsOn``, restricted to the graph's services; a cycle is refused before
anything starts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from runtime import Depends, Service
from runtime.cli import serve
from runtime.cli.serve import DependencyCycle, dependencies, start_waves
from runtime.protocol.graph import RunGraph
from runtime.registry import Registry


class Store(Service):
    class_name = "test.store"


class Cache(Service):
    class_name = "test.cache"
    store = Depends(Store, service_id="db")


class Api(Service):
    class_name = "test.api"
    cache = Depends(Cache, service_id="cache")
    store = Depends(Store, service_id="db")
    audit = Depends(Store, service_id="elsewhere", optional=True)  # not in the graph


def graph(*services: tuple[str, str]) -> RunGraph:
    return RunGraph(graphId="g", revision=1, services=[
        {"serviceId": sid, "serviceClass": cls} for sid, cls in services])


def registry() -> Registry:
    found = Registry()
    for cls in (Store, Cache, Api):
        found.register_service(cls)
    return found


def test_dependencies_are_those_the_graph_runs() -> None:
    g = graph(("api", "test.api"), ("cache", "test.cache"), ("db", "test.store"))
    assert dependencies(g, registry()) == {"api": ["cache", "db"], "cache": ["db"], "db": []}


def test_services_start_in_waves_after_what_they_depend_on() -> None:
    waves = start_waves({"api": ["cache", "db"], "cache": ["db"], "db": [], "other": []})
    assert waves == [["db", "other"], ["cache"], ["api"]]


def test_a_graph_without_dependencies_starts_in_one_wave() -> None:
    assert start_waves({"a": [], "b": []}) == [["a", "b"]]


def test_a_cycle_is_refused_naming_its_services() -> None:
    with pytest.raises(DependencyCycle, match="a -> b -> c -> a") as info:
        start_waves({"free": [], "a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]})
    assert info.value.cycle == ["a", "b", "c", "a"]


class Peer(Service):
    interface = True
    class_name = "test.peer"


class Left(Peer):
    class_name = "test.left"
    other = Depends(Peer, service_id="right")


class Right(Peer):
    class_name = "test.right"
    other = Depends(Peer, service_id="left")


def test_serve_refuses_a_cycle_before_it_starts_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    found = Registry()
    found.register_service(Left)
    found.register_service(Right)
    monkeypatch.setattr(serve, "default_registry", lambda: found)
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"graphId": "ring", "revision": 1, "services": [
        {"serviceId": "left", "serviceClass": "test.left"},
        {"serviceId": "right", "serviceClass": "test.right"}]}))
    args = argparse.Namespace(graph=path, mocks=False, nats="nats://127.0.0.1:1", store=None,
                              no_auth=True)

    assert serve.cmd_serve(args) == 2
    shown = capsys.readouterr()
    assert "left -> right -> left" in shown.err
    assert "[serve]" not in shown.out  # neither NATS nor a service was started
