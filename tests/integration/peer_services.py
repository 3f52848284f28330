"""Services of tests/integration/test_typed_clients.py: a worker interface, one implementation,
and a detector that calls whichever worker runs, through a typed client.

Loaded by service processes through the ``rungraph.nodes`` entry point the test installs in a
temporary folder on ``PYTHONPATH`` (``register`` below).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel

from runtime import Depends, Registry, Service, command


class Prompt(BaseModel):
    text: str
    times: int = 1


class Boxes(BaseModel):
    count: int
    by: str


class AllBoxes(BaseModel):
    items: list[Boxes]


class Target(BaseModel):
    serviceId: str
    text: str = "x"


class PeerWorker(Service):
    """What a worker answers; callers are written against this."""

    interface = True
    class_name = "test.peer_worker"

    @command
    async def generate(self, args: Prompt) -> Boxes:
        raise NotImplementedError

    @command
    async def tokens(self, args: Prompt) -> AsyncIterator[Boxes]:
        raise NotImplementedError
        yield  # an async generator, as its implementations are


class CpuWorker(PeerWorker):
    """The CPU implementation."""

    class_name = "test.cpu_worker"

    async def generate(self, args: Prompt) -> Boxes:
        return Boxes(count=len(args.text) * args.times, by=self.service_id)

    async def tokens(self, args: Prompt) -> AsyncIterator[Boxes]:
        for i in range(args.times):
            yield Boxes(count=i, by=self.service_id)


class PeerDetector(Service):
    """Calls the worker ``w1`` (its dependency), or any worker it is told."""

    class_name = "test.peer_detector"
    worker = Depends(PeerWorker, service_id="w1", doc="makes the boxes")

    @command
    async def detect(self, args: Prompt) -> Boxes:
        boxes: Boxes = await self.worker.generate(args)
        return boxes

    @command
    async def detect_all(self, args: Prompt) -> AllBoxes:
        return AllBoxes(items=[boxes async for boxes in self.worker.tokens(args)])

    @command
    async def detect_on(self, args: Target) -> Boxes:
        boxes: Boxes = await PeerWorker.client(args.serviceId).generate(text=args.text)
        return boxes

    @command
    async def switch_off(self, args: Target) -> None:
        await PeerWorker.client(args.serviceId).call("deactivate")


def register(registry: Registry) -> None:
    registry.register(CpuWorker)
    registry.register(PeerDetector)
