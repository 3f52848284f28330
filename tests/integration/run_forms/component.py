"""A service written the way seed 001 writes a component: an async start hook, typed commands,
``self.instance``. The files beside this one run it, each with another footer."""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel

from runtime import Service, async_on_start, command


class Whoami(BaseModel):
    instanceId: int
    greeting: str
    loop: str
    """The module of the event loop's class: ``uvloop`` or ``asyncio...``."""


class MyComponent(Service):
    """Answers who it is, from the state its async start hook made."""

    class_name = "test.my_component"

    @async_on_start
    async def async_init(self) -> None:
        await asyncio.sleep(0.01)
        if os.environ.get("RUN_FORMS_FAIL_START"):
            raise RuntimeError("the model would not load")
        self.greeting = "hello"

    @command
    async def whoami(self) -> Whoami:
        loop = type(asyncio.get_running_loop()).__module__
        return Whoami(instanceId=self.instance.instance_id, greeting=self.greeting, loop=loop)
