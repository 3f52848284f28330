"""Typed results: what a command returns (each item a streamed one yields) is checked against its
declared type; the wrong shape is an INTERNAL error naming the command, never ``ok``."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from runtime import Service, command
from runtime.service.policy import result_check
from runtime.transport.base import Msg, Transport
from runtime.transport.memory import MemoryHub
from tests.support import (  # noqa: F401
    eventually,
    graph,
    registry_with,
    request,
    service,
    simulate,
)

CMD = "svc.main.cmd"


class Resp(BaseModel):
    text: str
    count: int


class Item(BaseModel):
    n: int


class Shapes(Service):
    """Commands that return what they declare, and ones that do not."""

    class_name = "test.shapes"

    @command
    async def good_model(self) -> Resp:
        return Resp(text="a", count=1)

    @command
    async def good_dict(self) -> Resp:
        return {"text": "a", "count": "2"}  # type: ignore[return-value]  # converted, as args are

    @command
    async def wrong_shape(self) -> Resp:
        return {"wrong": "shape"}  # type: ignore[return-value]

    @command
    async def wrong_list(self) -> list[int]:
        return [1, "two"]  # type: ignore[list-item]

    @command
    async def not_none(self) -> None:
        return 5  # type: ignore[return-value]

    @command
    async def any_dict(self) -> dict:  # type: ignore[type-arg]
        return {"anything": object.__name__}

    @command
    async def any_value(self) -> Any:
        return ["whatever", 1]

    @command
    async def unannotated(self):  # type: ignore[no-untyped-def]
        return {"free": True}

    @command
    async def items(self) -> AsyncIterator[Item]:
        yield Item(n=1)
        yield {"n": 2}  # type: ignore[misc]
        yield {"n": "three"}  # type: ignore[misc]
        yield Item(n=4)

    @command
    async def gen_items(self) -> AsyncGenerator[int, None]:
        yield 1
        yield "x"  # type: ignore[misc]

    @command
    async def model_list(self) -> list[Item]:
        return [Item(n=1), Item(n=2)]

    @command
    async def free_items(self):  # type: ignore[no-untyped-def]
        yield {"whatever": 1}


@pytest.fixture
async def shapes(simulate) -> tuple[Transport, Any]:
    hub = MemoryHub()
    sim = await simulate(graph([], services=[service("main", "test.shapes")]),
                         registry=registry_with(Shapes), hub=hub)
    return hub.connect(), sim


async def call(transport: Transport, name: str) -> dict[str, Any]:
    return await request(transport, CMD, {"reqId": f"r-{name}", "call": name, "args": {}})


@pytest.mark.parametrize(("name", "result"), [
    ("good_model", {"text": "a", "count": 1}),
    ("good_dict", {"text": "a", "count": 2}),
    ("model_list", [{"n": 1}, {"n": 2}]),
    ("any_dict", {"anything": "object"}),
    ("any_value", ["whatever", 1]),
    ("unannotated", {"free": True})])
async def test_a_result_of_its_declared_type_is_ok(shapes, name: str, result: Any) -> None:
    transport, _ = shapes

    reply = await call(transport, name)

    assert reply["ok"] is True, reply["error"]
    assert reply["result"] == result


@pytest.mark.parametrize(("name", "declared", "where"), [
    ("wrong_shape", "Resp", "text"),
    ("wrong_list", "list", "1"),
    ("not_none", "None", "(root)")])
async def test_a_result_of_the_wrong_shape_is_internal_naming_the_command(
        shapes, name: str, declared: str, where: str) -> None:
    transport, _ = shapes

    reply = await call(transport, name)

    assert reply["ok"] is False
    error = reply["error"]
    assert error["code"] == "INTERNAL"
    assert error["message"].startswith(f"command {name!r} returned a result that is not a")
    assert declared in error["message"]
    assert error["details"]["command"] == name
    assert error["details"]["errors"]
    assert where in error["message"]


async def test_the_wrong_shape_lists_what_pydantic_found(shapes) -> None:
    transport, _ = shapes

    reply = await call(transport, "wrong_shape")

    missing = {tuple(e["loc"]) for e in reply["error"]["details"]["errors"]
               if e["type"] == "missing"}
    assert missing == {("text",), ("count",)}


async def streamed(transport: Transport, name: str) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []

    async def on_reply(msg: Msg) -> None:
        replies.append(json.loads(msg.data))

    inbox = transport.new_inbox()
    await transport.subscribe(inbox, on_reply)
    await transport.publish(CMD, json.dumps({"reqId": "s", "call": name}).encode(), reply=inbox)
    await eventually(lambda: bool(replies) and replies[-1]["stream"]["final"],
                     what=f"the final reply of {name}")
    return replies


async def test_a_streamed_item_of_the_wrong_type_ends_the_stream_with_internal(shapes) -> None:
    transport, _ = shapes

    replies = await streamed(transport, "items")

    assert [r["result"] for r in replies if r["ok"]] == [{"n": 1}, {"n": 2}]
    last = replies[-1]
    assert last["stream"]["final"] is True
    assert last["error"]["code"] == "INTERNAL"
    assert last["error"]["message"].startswith("command 'items' yielded an item that is not a "
                                               "Item")


async def test_an_async_generator_annotation_checks_its_items_too(shapes) -> None:
    transport, _ = shapes

    replies = await streamed(transport, "gen_items")

    assert [r["result"] for r in replies if r["ok"]] == [1]
    assert replies[-1]["error"]["code"] == "INTERNAL"


async def test_an_unannotated_stream_is_not_checked(shapes) -> None:
    transport, _ = shapes

    replies = await streamed(transport, "free_items")

    assert [r["result"] for r in replies] == [{"whatever": 1}, None]


async def test_a_streamed_failure_is_a_failure_through_an_in_process_call(shapes) -> None:
    _, sim = shapes

    reply = await sim.call("main", "items")

    assert reply.ok is False
    assert reply.error.code == "INTERNAL"


def test_a_commands_check_is_built_once() -> None:
    cmd = Shapes._commands["wrong_shape"]

    assert result_check(cmd) is result_check(cmd)
    assert result_check(Shapes._commands["any_dict"]).adapter is None
