"""Typed clients between services (issue 12): ``Worker.client("w1")`` calls another service's
commands with their pydantic types, through the command channel, on the memory transport.

A caller is written against an interface; two implementations answer it unchanged. Refusals come
back as the exception of their error code, a result of the wrong type as ``InvalidResult``, a
service that is not running as ``DependencyUnavailable`` at once.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from runtime import (
    Busy,
    CallTimedOut,
    CommandError,
    Conflict,
    DependencyUnavailable,
    Depends,
    ErrorCode,
    Forbidden,
    Internal,
    InvalidArgs,
    InvalidResult,
    NotFound,
    Service,
    State,
    UnknownCall,
    command,
    error_for,
)
from runtime.client import Client
from runtime.protocol import naming
from runtime.registry import Registry
from runtime.service import peers
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from tests.support import eventually


class Prompt(BaseModel):
    text: str
    times: int = 1


class Boxes(BaseModel):
    count: int
    by: str


class Fail(BaseModel):
    code: str


class Worker(Service):
    """What every worker answers: the caller is written against this."""

    interface = True
    class_name = "test.worker"

    @command
    async def generate(self, args: Prompt) -> Boxes:
        raise NotImplementedError

    @command
    async def tokens(self, args: Prompt) -> AsyncIterator[Boxes]:
        raise NotImplementedError
        yield  # an async generator, as its implementations are


class MockWorker(Worker):
    """The CPU mock."""

    class_name = "test.mock_worker"
    served = State(int, 0)

    async def generate(self, args: Prompt) -> Boxes:
        self.served = int(self.served) + 1
        return Boxes(count=len(args.text) * args.times, by="mock")

    async def tokens(self, args: Prompt) -> AsyncIterator[Boxes]:
        for i in range(args.times):
            yield Boxes(count=i, by="mock")
        if args.text == "break":
            raise CommandError(ErrorCode.CONFLICT, "the stream broke")


class RealWorker(Worker):
    """Another implementation of the same interface."""

    class_name = "test.real_worker"

    async def generate(self, args: Prompt) -> Boxes:
        return Boxes(count=100 + args.times, by="real")

    async def tokens(self, args: Prompt) -> AsyncIterator[Boxes]:
        yield Boxes(count=-1, by="real")


class SloppyWorker(Worker):
    """Declares (and answers with) results other than the interface's: another version."""

    class_name = "test.sloppy_worker"

    @command
    async def generate(self, args: Prompt) -> dict[str, Any]:
        return {"count": "many"}

    @command
    async def tokens(self, args: Prompt) -> AsyncIterator[dict[str, Any]]:
        yield {"by": "nobody"}


class Detector(Service):
    """Calls a worker: written against the interface only."""

    class_name = "test.detector"
    worker = Depends(Worker, service_id="w1", doc="makes the boxes")

    @command
    async def detect(self, args: Prompt) -> Boxes:
        return await self.worker.generate(args)  # type: ignore[no-any-return]

    @command
    async def detect_via_class(self, args: Prompt) -> Boxes:
        boxes: Boxes = await Worker.client("w1").generate(text=args.text, times=args.times)
        return boxes


class Failing(Service):
    class_name = "test.failing"

    @command
    async def fail(self, args: Fail) -> None:
        raise CommandError(ErrorCode(args.code), f"failed with {args.code}", {"why": "asked"})

    @command
    async def nothing(self) -> int:
        return 7


class Hosts:
    def __init__(self) -> None:
        self.hub = MemoryHub("peers")
        self.registry = Registry()
        for cls in (MockWorker, RealWorker, SloppyWorker, Detector, Failing):
            self.registry.register_service(cls)
        self.running: dict[str, ServiceHost] = {}
        self.sent: list[Msg] = []

    async def start(self, service_id: str, cls: type[Service]) -> ServiceHost:
        host = ServiceHost(ServiceBus(self.hub.connect(), service_id), self.registry, cls,
                           autostart_sources=False)
        await host.start(serve=True, restore=False)
        self.running[service_id] = host
        return host

    async def stop(self, service_id: str) -> None:
        await self.running.pop(service_id).stop()

    def client(self) -> Client:
        return Client(self.hub.connect(), actor="tester")

    async def spy(self, service_id: str) -> None:
        """Note every message sent to ``service_id``'s command subjects."""
        async def seen(msg: Msg) -> None:
            self.sent.append(msg)

        await self.hub.connect().subscribe(f"svc.{service_id}.cmd.>", seen)
        await self.hub.connect().subscribe(naming.cmd_subject(service_id), seen)


@pytest.fixture
async def hosts() -> AsyncIterator[Hosts]:
    world = Hosts()
    yield world
    for sid in list(world.running):
        await world.stop(sid)


async def test_a_command_is_called_with_its_args_model_and_returns_its_result_type(
        hosts: Hosts) -> None:
    await hosts.start("w1", MockWorker)
    worker = Worker.client("w1", via=hosts.client())

    by_model = await worker.generate(Prompt(text="abc", times=2))
    by_kwargs = await worker.generate(text="abcd")
    by_dict = await worker.generate({"text": "ab", "times": 3})

    assert by_model == Boxes(count=6, by="mock")
    assert (by_kwargs, by_dict) == (Boxes(count=4, by="mock"), Boxes(count=6, by="mock"))
    assert hosts.running["w1"].bus.state["w1"]["served"] == 3


async def test_args_that_do_not_fit_are_refused_before_anything_is_sent(hosts: Hosts) -> None:
    await hosts.start("w1", MockWorker)
    await hosts.spy("w1")
    worker = Worker.client("w1", via=hosts.client())

    with pytest.raises(InvalidArgs, match="generate") as info:
        await worker.generate(times=2)  # no text
    with pytest.raises(InvalidArgs, match="Prompt"):
        await worker.generate(["not", "args"])

    assert info.value.code == ErrorCode.INVALID_ARGS
    assert (info.value.service_id, info.value.call) == ("w1", "generate")
    assert info.value.details["errors"][0]["loc"] == ("text",)
    await hosts.hub.settle()
    assert hosts.sent == []


async def test_a_result_of_the_wrong_type_raises_invalid_result_naming_the_command(
        hosts: Hosts) -> None:
    await hosts.start("w1", SloppyWorker)
    worker = Worker.client("w1", via=hosts.client())

    with pytest.raises(InvalidResult, match="generate on service 'w1'.*not a Boxes") as info:
        await worker.generate(text="x")
    with pytest.raises(InvalidResult, match="tokens"):
        _ = [item async for item in worker.tokens(text="x")]

    assert isinstance(info.value, Internal)
    assert info.value.code == ErrorCode.INTERNAL
    assert info.value.call == "generate"


@pytest.mark.parametrize(("code", "raised"), [
    ("UNKNOWN_CALL", UnknownCall), ("INVALID_ARGS", InvalidArgs), ("FORBIDDEN", Forbidden),
    ("NOT_FOUND", NotFound), ("CONFLICT", Conflict), ("TIMEOUT", CallTimedOut),
    ("BUSY", Busy), ("INTERNAL", Internal),
])
async def test_each_error_code_comes_back_as_its_exception(
        hosts: Hosts, code: str, raised: type[CommandError]) -> None:
    await hosts.start("f1", Failing)
    failing = Failing.client("f1", via=hosts.client())

    with pytest.raises(raised) as info:
        await failing.fail(code=code)

    assert type(info.value) is raised
    assert info.value.code == ErrorCode(code)
    assert info.value.details == {"why": "asked"}
    assert f"failed with {code}" in info.value.message


async def test_a_crash_in_the_callee_and_an_unknown_command_are_typed_too(hosts: Hosts) -> None:
    await hosts.start("w1", MockWorker)
    await hosts.start("f1", Failing)
    other = Failing.client("w1", via=hosts.client())  # the wrong class for w1

    with pytest.raises(UnknownCall) as info:
        await other.nothing()
    assert "generate" in info.value.details["known"]
    with pytest.raises(AttributeError, match="no command 'generat'"):
        Worker.client("w1", via=hosts.client()).generat  # noqa: B018 - the lookup is the test
    assert await Failing.client("f1", via=hosts.client()).nothing() == 7


async def test_a_call_past_its_timeout_raises_call_timed_out(hosts: Hosts) -> None:
    class Slow(Service):
        class_name = "test.slow"

        @command
        async def wait(self) -> None:
            import asyncio
            await asyncio.sleep(30)

    hosts.registry.register_service(Slow)
    await hosts.start("slow", Slow)

    with pytest.raises(CallTimedOut) as info:
        await Slow.client("slow", via=hosts.client(), timeout=0.05).wait()

    assert info.value.code == ErrorCode.TIMEOUT
    assert info.value.service_id == "slow"


async def test_a_streamed_command_is_an_async_iterator_of_typed_items(hosts: Hosts) -> None:
    await hosts.start("w1", MockWorker)
    worker = Worker.client("w1", via=hosts.client())

    items = [item async for item in worker.tokens(Prompt(text="x", times=3))]
    assert items == [Boxes(count=i, by="mock") for i in range(3)]
    assert await worker.call("tokens", {"text": "y", "times": 2}) == items[:2]

    got: list[Boxes] = []

    async def read_all() -> None:
        async for item in worker.tokens(text="break", times=2):
            got.append(item)

    with pytest.raises(Conflict, match="the stream broke"):
        await read_all()
    assert got == items[:2]


async def test_a_service_that_does_not_run_fails_fast_with_dependency_unavailable(
        hosts: Hosts) -> None:
    worker = Worker.client("w9", via=hosts.client(), timeout=600)

    with pytest.raises(DependencyUnavailable, match="'w9' is not running") as info:
        await worker.generate(text="x")
    with pytest.raises(DependencyUnavailable):
        _ = [item async for item in worker.tokens(text="x")]

    assert info.value.code == ErrorCode.NOT_FOUND
    assert info.value.details == {"unavailableServiceId": "w9", "serviceClass": "test.worker"}
    assert "implementation of interface test.worker" in info.value.message


async def test_a_dependency_that_does_not_run_reaches_the_callers_caller_typed(
        hosts: Hosts) -> None:
    await hosts.start("d1", Detector)  # w1 is not running

    with pytest.raises(DependencyUnavailable) as info:
        await Detector.client("d1", via=hosts.client()).detect(text="x")

    assert info.value.service_id == "d1"  # the call that failed: d1's detect
    assert info.value.details["unavailableServiceId"] == "w1"


async def test_a_caller_written_against_the_interface_runs_unchanged_on_either_implementation(
        hosts: Hosts) -> None:
    await hosts.start("d1", Detector)
    detector = hosts.client().service(Detector, "d1")

    await hosts.start("w1", MockWorker)
    assert await detector.detect(text="ab", times=2) == Boxes(count=4, by="mock")
    assert await detector.detect_via_class(text="ab") == Boxes(count=2, by="mock")
    await hosts.stop("w1")
    await hosts.start("w1", RealWorker)
    assert await detector.detect(text="ab", times=2) == Boxes(count=102, by="real")
    assert await detector.detect_via_class(text="ab") == Boxes(count=101, by="real")


def test_the_spec_lists_dependencies_and_the_interfaces_implemented() -> None:
    spec = Detector.spec()
    assert [d.model_dump() for d in spec.dependsOn] == [{
        "name": "worker", "serviceClass": "test.worker", "serviceId": "w1",
        "optional": False, "description": "makes the boxes"}]
    assert MockWorker.spec().implements == ["test.worker"]
    assert Detector.spec().implements == []
    assert (Worker.interface, MockWorker.interface) == (True, False)
    assert Worker.default_service_id() == "test_worker"


def test_an_interface_is_not_registered_to_run() -> None:
    with pytest.raises(TypeError, match="Worker is an interface"):
        Registry().register_service(Worker)


def test_an_implementation_keeps_the_interfaces_types_and_must_match_its_kind() -> None:
    assert MockWorker._commands["generate"].args_model is Prompt
    assert MockWorker._commands["tokens"].streaming

    with pytest.raises(TypeError, match="implements command 'tokens'"):
        class Wrong(Worker):
            async def tokens(self, args: Prompt) -> list[Boxes]:  # type: ignore[override]
                return []


async def test_notify_runs_a_command_and_waits_for_nothing(hosts: Hosts) -> None:
    host = await hosts.start("w1", MockWorker)
    worker = Worker.client("w1", via=hosts.client())

    assert await worker.notify("generate", Prompt(text="x")) is None
    await eventually(lambda: host.bus.state["w1"]["served"] == 1, what="the call to run")
    with pytest.raises(InvalidArgs):
        await worker.notify("generate", {"times": 1})


async def test_built_in_reads_through_the_typed_client(hosts: Hosts) -> None:
    await hosts.start("w1", MockWorker)
    worker = Worker.client("w1", via=hosts.client())

    status = await worker.status()
    state = await worker.get_state("w1", "served")

    assert status["serviceId"] == "w1"
    assert state == {"nodeId": "w1", "field": "served", "value": 0}
    with pytest.raises(NotFound):
        await worker.get_state("nope")


def test_without_a_connection_a_client_says_how_to_get_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "_process", [])  # no service runs in this process
    with pytest.raises(peers.NoConnection, match="pass via="):
        Worker.client("w1")


def test_error_for_maps_an_unknown_code_to_internal_with_the_code_kept() -> None:
    error = error_for("MELTED", "it melted")
    assert type(error) is Internal
    assert error.details == {"code": "MELTED"}



README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


async def test_the_readme_example_calls_the_mock_through_the_interface(hosts: Hosts) -> None:
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S)
                 if "class Writer(Service)" in b)
    example: dict[str, Any] = {}
    exec(block, example)
    for name in ("MockWorker", "Writer"):
        hosts.registry.register_service(example[name])
    await hosts.start("w1", example["MockWorker"])
    await hosts.start("wr1", example["Writer"])

    written = await hosts.client().service(example["Writer"], "wr1").write(text="a b c")

    assert written == example["Tokens"](count=3)
    assert example["Writer"].spec().dependsOn[0].serviceId == "w1"
