"""A streamed command over authenticated connections, on a real nats-server: nats-server lets a
service answer one request as often as a stream may send (``allow_responses`` with a bound, not
``true``, which allows one answer), so every reply reaches the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel

from runtime import Service
from runtime.auth import Role
from runtime.client import Client
from runtime.component import command
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Secured,
    identity,
    secured,
    serve,
    server,
)

pytestmark = pytest.mark.integration


class Count(BaseModel):
    n: int


class Counter(Service):
    class_name = "test.counter_stream"

    @command
    async def count(self, args: Count) -> AsyncIterator[int]:
        for i in range(args.n):
            yield i


@pytest.mark.parametrize("n", [1, 200])
async def test_a_streamed_command_delivers_every_reply_with_auth_on(
        secured: Secured, n: int) -> None:
    host = await serve(secured, cls=Counter)
    operator = await identity(secured, Role.operator)
    client = Client(operator.transport, actor="studio")
    assert host.router.directory is not None  # calls are checked: authentication is on

    replies = [r async for r in client.call_stream("s1", "count", {"n": n}, timeout=5.0)]

    assert [r.result for r in replies[:-1]] == list(range(n))
    assert all(r.ok for r in replies)
    assert [r.stream.seq for r in replies if r.stream is not None] == list(range(n + 1))
    assert replies[-1].stream is not None
    assert replies[-1].stream.final
