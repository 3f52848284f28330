"""A flush (and so a subscription's drain) reaches the server after every command queued before
it, on a real nats-server: a drain whose PING overtook its UNSUB got its PONG while the server
still routed requests to the subscription, which was then removed, and those requests were lost
(a rolling upgrade lost about one command in 1,300 so)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from runtime.transport.nats import NatsTransport, connect

pytestmark = pytest.mark.integration


@pytest.fixture
async def transport(nats_url: str) -> AsyncIterator[NatsTransport]:
    t = await connect(nats_url, name="flush-order")
    yield t
    await t.close()


def record_writes(transport: NatsTransport) -> list[bytes]:
    """What goes to the socket from now on, in order, one entry per protocol line written."""
    sock = transport.nc._transport
    assert sock is not None
    written: list[bytes] = []
    write, writelines = sock.write, sock.writelines

    def on_write(data: bytes) -> None:
        written.append(bytes(data))
        write(data)

    def on_writelines(lines: list[bytes]) -> None:
        written.extend(bytes(line) for line in lines)
        writelines(lines)

    sock.write = on_write  # type: ignore[method-assign]
    sock.writelines = on_writelines  # type: ignore[method-assign]
    return written


def first(written: list[bytes], prefix: bytes) -> int:
    return next(i for i, data in enumerate(written) if data.startswith(prefix))


async def test_flush_sends_its_ping_after_the_publishes_queued_before_it(
        transport: NatsTransport) -> None:
    written = record_writes(transport)
    await transport.nc.publish("flush.order", b"queued")  # left for nats-py's flusher task
    await transport.nc.flush(timeout=5)
    assert first(written, b"PUB flush.order") < first(written, b"PING")


async def test_a_drained_queue_subscription_loses_no_message_routed_to_it(
        nats_url: str, transport: NatsTransport) -> None:
    """Two members of a queue group; one drains while a publisher sends a steady stream: every
    message reaches exactly one member (those routed to the draining one before its UNSUB are
    handled), and the UNSUB goes out before the drain's PING."""
    total = 2000
    got: dict[str, list[bytes]] = {"draining": [], "staying": []}
    all_in = asyncio.Event()

    def take(member: str, data: bytes) -> None:
        got[member].append(data)
        if len(got["draining"]) + len(got["staying"]) >= total:
            all_in.set()

    async def on_draining(msg) -> None:  # type: ignore[no-untyped-def]
        take("draining", msg.data)

    async def on_staying(msg) -> None:  # type: ignore[no-untyped-def]
        take("staying", msg.data)

    other = await connect(nats_url, name="flush-order-other")
    publisher = await connect(nats_url, name="flush-order-publisher")
    try:
        sub = await transport.nc.subscribe("work", queue="q", cb=on_draining)
        await other.nc.subscribe("work", queue="q", cb=on_staying)
        await transport.nc.flush(timeout=5)
        await other.nc.flush(timeout=5)
        sent = 0

        async def publish(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                await publisher.nc.publish("work", str(sent).encode())
                sent += 1
                if sent % 20 == 0:
                    await asyncio.sleep(0)

        pub = asyncio.ensure_future(publish(total))
        await asyncio.sleep(0.01)
        written = record_writes(transport)
        await sub.drain()
        await pub
        await publisher.nc.flush(timeout=5)
        waiting = asyncio.ensure_future(all_in.wait())
        await asyncio.wait({waiting}, timeout=10)  # the assert below names what is missing
        waiting.cancel()
        received = sorted(int(m) for m in got["draining"] + got["staying"])
        assert received == list(range(sent))
        assert first(written, b"UNSUB") < first(written, b"PING")
    finally:
        await other.close()
        await publisher.close()
