"""``MyService.run()``: one call that serves both ways a service file ends.

Seed 001 ends a file with ``uvloop.run(MyComponent.run())``: ``run()`` is then a coroutine the
caller's loop runs (``await MyService.run()`` inside a user's own coroutine works the same way).
DESIGN.md and the files written before it end with the plain statement ``MyService.run()``, no
loop at all: that must still parse argv, serve, and exit with the service's code.

``run()`` tells the two apart when it is called with no event loop running: it looks at the
caller's next bytecode instruction. ``POP_TOP`` means the caller drops the value (a statement of
its own), so the service runs right there (``main``); anything else (an argument of
``uvloop.run``, an assignment) gets a ``ServiceRun``, an awaitable. With a loop running it is
always a ``ServiceRun``. ``MyService.main()`` is the same synchronous run, without the look.
A ``ServiceRun`` that is never awaited warns (``RuntimeWarning``) naming both correct forms.
"""

from __future__ import annotations

import asyncio
import dis
import sys
import warnings
from collections.abc import Coroutine, Generator
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from runtime.component import ServiceNode


def result_dropped(frame: FrameType | None) -> bool:
    """Whether the call that ``frame`` is in the middle of is a statement of its own: the next
    instruction after it (its inline caches skipped) throws the value away (``POP_TOP``)."""
    if frame is None:
        return False
    lasti = frame.f_lasti  # on 3.11 the call's last inline cache, on 3.12+ the call itself
    for instruction in dis.get_instructions(frame.f_code):  # caches are not listed
        if instruction.offset > lasti:
            return instruction.opname == "POP_TOP"
    return False


def loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class ServiceRun(Coroutine[Any, Any, None]):
    """What ``MyService.run()`` returns where the caller keeps it: a coroutine that runs the
    service in the loop that awaits it (``await MyService.run()``,
    ``uvloop.run(MyService.run())``, ``asyncio.run(MyService.run())``). It parses ``argv``
    (default ``sys.argv[1:]``), serves until SIGINT/SIGTERM and returns; ``--describe`` prints
    the spec and returns; a connection that fails, or a start hook that fails, raises."""

    def __init__(self, cls: type[ServiceNode], argv: list[str] | None) -> None:
        self._cls, self._argv = cls, argv
        self._coro: Coroutine[Any, Any, None] | None = None
        self._settled = False
        """Started or closed: it warns when dropped otherwise."""

    def _started(self) -> Coroutine[Any, Any, None]:
        if self._coro is None:
            from runtime.service.main import run_service  # the process machinery, on demand

            self._settled = True
            self._coro = run_service(self._cls, self._argv)
        return self._coro

    def send(self, value: Any) -> Any:
        return self._started().send(value)

    def throw(self, *args: Any) -> Any:
        return self._started().throw(*args)

    def close(self) -> None:
        self._settled = True
        if self._coro is not None:
            self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self._started().__await__()

    def __repr__(self) -> str:
        return f"<ServiceRun of {self._cls.__name__}>"

    def __del__(self) -> None:
        if not self._settled:
            name = self._cls.__name__
            warnings.warn(
                f"{name}.run() was never awaited, so the service never ran: await it "
                f"(`await {name}.run()`, or `uvloop.run({name}.run())` in a file's footer), or "
                f"run it synchronously with `{name}.main()` (or the statement `{name}.run()` "
                "outside any event loop)", RuntimeWarning, stacklevel=2)



def run(cls: type[ServiceNode], argv: list[str] | None, caller: FrameType | None) -> ServiceRun:
    """``cls.run(argv)`` called from ``caller``: run it now when the caller drops the value and
    no loop runs (``main``: exits the process with the service's code), else the awaitable."""
    if not loop_running() and result_dropped(caller):
        del caller
        main(cls, argv)
    return ServiceRun(cls, argv)


def main(cls: type[ServiceNode], argv: list[str] | None = None) -> NoReturn:
    """Run ``cls`` as this process, synchronously: parse ``argv`` (default ``sys.argv[1:]``),
    serve on uvloop where it is installed, and exit with the service's code (0 after
    SIGINT/SIGTERM or ``--describe``, 1 when NATS cannot be reached or the start fails)."""
    from runtime.service.main import main as process_main

    process_main(cls, argv if argv is not None else sys.argv[1:])
