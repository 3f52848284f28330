"""A service in two versions, for the rolling-upgrade test: ``python -m
tests.integration.upgrade_service v1|v2 --nats URL --service-id ID [--upgrade]``. Version 2.0.0
has the same class name and one command more."""

from __future__ import annotations

import sys

from runtime import Service, command

CLASS = "test.rolling_counter"


class CounterV1(Service):
    """Hosts a Tick -> Counter graph; answers which version it is."""

    class_name = CLASS
    version = "1.0.0"

    @command
    async def which(self) -> str:
        """The version of the instance that answers."""
        return self.version


class CounterV2(CounterV1):
    """The next version of the same service."""

    version = "2.0.0"

    @command
    async def hello(self) -> str:
        """A command only version 2.0.0 has."""
        return "hello from 2.0.0"


if __name__ == "__main__":
    (CounterV2 if sys.argv[1:2] == ["v2"] else CounterV1).run(sys.argv[2:])
