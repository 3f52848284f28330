"""Plain-Python events for the Qt-free model (napari's EventedModel idea, without Qt).

An ``Event`` is a list of callbacks; ``emit`` calls them in order. A failing callback is logged and
the others still run, so one broken view never stops the document from notifying the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Event:
    __slots__ = ("name", "_callbacks", "blocked")

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []
        self.blocked = False

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        if self.blocked:
            return
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception:
                log.exception("handler %r of event %s failed", callback, self.name)


class EventGroup:
    """Named events as attributes: ``group.moved.connect(cb)``."""

    def __init__(self, *names: str) -> None:
        for name in names:
            setattr(self, name, Event(name))
