"""The KV writer sends the writes of a pass as one batch, without a task where the bucket can
(``put_many_nowait``), and settles them where the acks come in; retries and failures keep the
drain's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from runtime.protocol import naming
from runtime.service.kv_writer import KVWriter
from runtime.service.limits import KVWriteDropped
from runtime.transport.base import InvalidKey, TransportTimeout
from tests.support import eventually

Items = list[tuple[str, bytes | None]]
Done = Callable[[list[Exception | None]], None]


class BatchKV:
    """A bucket whose batches wait for ``ack()``; ``faults``: key -> the error its write gets."""

    bucket = "b"

    def __init__(self) -> None:
        self.batches: list[Items] = []
        self.waiting: list[tuple[Items, Done]] = []
        self.faults: dict[str, Exception] = {}
        self.drained: list[Items] = []
        self.takes_batches = True

    def put_many_nowait(self, items: Items, on_done: Done) -> bool:
        if not self.takes_batches:
            return False
        self.batches.append(items)
        self.waiting.append((items, on_done))
        return True

    def ack(self) -> None:
        waiting, self.waiting = self.waiting, []
        for items, on_done in waiting:
            on_done([self.faults.get(key) for key, _ in items])

    async def put_many(self, items: Items) -> list[Exception | None]:
        self.drained.append(items)
        return [self.faults.get(key) for key, _ in items]


def writer_of(kv: BatchKV) -> tuple[KVWriter, list[tuple[str, str, KVWriteDropped]]]:
    dropped: list[tuple[str, str, KVWriteDropped]] = []
    writer = KVWriter(lambda: kv, lambda n, f, e: dropped.append((n, f, e)))  # type: ignore[arg-type, return-value]
    return writer, dropped


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_the_writes_of_a_pass_go_out_as_one_batch_settled_by_their_acks():
    kv = BatchKV()
    writer, _ = writer_of(kv)
    for i in range(3):
        writer.queue((f"c{i}", "count"), b"%d" % i)
    await settle()
    assert kv.batches == [[(naming.state_key(f"c{i}", "count"), b"%d" % i) for i in range(3)]]
    assert not writer.idle
    kv.ack()
    assert writer.idle
    assert writer.stats()["written"] == 3
    assert await writer.flush(1.0)


async def test_a_write_queued_while_a_batch_is_out_goes_next_with_its_latest_value():
    kv = BatchKV()
    writer, _ = writer_of(kv)
    writer.queue(("c", "count"), b"1")
    await settle()
    writer.queue(("c", "count"), b"2")
    writer.queue(("c", "count"), b"3")
    await settle()
    assert len(kv.batches) == 1  # one batch at a time
    kv.ack()
    await settle()
    assert kv.batches[1] == [(naming.state_key("c", "count"), b"3")]
    kv.ack()
    assert writer.idle
    assert writer.stats()["written"] == 2


async def test_a_write_that_fails_for_a_while_is_retried_without_holding_back_the_others():
    kv = BatchKV()
    writer, dropped = writer_of(kv)
    kv.faults[naming.state_key("a", "x")] = TransportTimeout("no answer")
    writer.queue(("a", "x"), b"1")
    writer.queue(("b", "x"), b"1")
    await settle()
    kv.ack()
    assert writer.stats()["retrying"] == 1
    assert writer.stats()["written"] == 1  # b landed beside a's failure
    del kv.faults[naming.state_key("a", "x")]
    await eventually(lambda: writer.idle, what="the retried write")
    assert kv.drained  # the retry went the drain's way
    assert writer.stats()["written"] == 2
    assert dropped == []


async def test_a_write_refused_for_good_is_dropped_and_reported():
    kv = BatchKV()
    writer, dropped = writer_of(kv)
    kv.faults[naming.state_key("a", "x")] = InvalidKey("bad")
    writer.queue(("a", "x"), b"1")
    await settle()
    kv.ack()
    assert writer.idle
    assert writer.stats()["dropped"] == 1
    assert dropped[0][:2] == ("a", "x")


async def test_a_bucket_that_cannot_send_at_once_is_written_by_the_drain():
    kv = BatchKV()
    kv.takes_batches = False
    writer, _ = writer_of(kv)
    writer.queue(("a", "x"), b"1")
    assert await writer.flush(1.0)
    assert kv.drained == [[(naming.state_key("a", "x"), b"1")]]
    assert writer.stats()["written"] == 1
