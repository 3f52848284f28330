"""``runtime.Service``: the service node of the component API plus ``run()``, its process entry.

A service file ends with ``uvloop.run(MyService.run())`` (seed 001) or ``MyService.run()``
(``entry.py`` tells them apart). Running a process is this layer's job, so
the runnable class lives here and the component layer below knows nothing of processes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cached_property
from typing import Any, NoReturn

from runtime.component import EventOutlet, ServiceNode
from runtime.service import entry
from runtime.service.entry import ServiceRun
from runtime.service.event_outbox import ServiceEvents
from runtime.service.events import EventMessage, EventSubscription
from runtime.service.peers import DEFAULT_TIMEOUT_S, ServiceClient


class Service(ServiceNode):
    """Base class of services: declare state, data outputs and commands on the class (see
    ``runtime.component``), then end the file with ``MyService.run()``."""

    @classmethod
    def client(cls, service_id: str | None = None, *, via: Any = None,
               timeout: float = DEFAULT_TIMEOUT_S) -> ServiceClient:
        """A typed client of the service ``service_id`` (default: this class's default id)
        of this class, or of any implementation of it when it is an interface: one method per
        command, with its pydantic types (``runtime.service.peers``). ``via``: a
        ``runtime.client.Client`` or a transport; None inside a running service (its own
        connection). ``timeout``: seconds per call, sent as ``timeoutMs``."""
        return ServiceClient(cls, service_id, via=via, timeout=timeout)

    @cached_property
    def _event_io(self) -> ServiceEvents:
        return ServiceEvents(self)

    def event_outlet(self) -> EventOutlet:
        """Where this service's events go (``self.<event>.emit``): ``runtime.service.events``."""
        return self._event_io

    def subscribe_event(self, source: str | type[ServiceNode], name: str,
                        handler: Callable[[EventMessage[Any]], Any], *, tp: Any = None,
                        service_id: str | None = None) -> EventSubscription[Any]:
        """Call ``handler`` (sync or async) with each event ``name`` of another service:
        ``source`` is its service id, or its class (then ``tp`` is the event's declared type
        and the id ``service_id``, by default the class's default id). Returns at once and
        subscribes in the background, so a sync hook (``on_create``) may call it; ``await``
        the result to wait until it is subscribed. Dropped when this service stops."""
        return self._event_io.subscribe(source, name, handler, tp=tp, service_id=service_id)

    @classmethod
    def run(cls, argv: list[str] | None = None) -> ServiceRun:
        """Run this service as a process: ``python3 my_service.py --nats URL --service-id ID``
        (``--describe`` prints its spec). A file ends with ``uvloop.run(MyService.run())``
        (seed 001), or ``await MyService.run()`` inside a coroutine: the returned ``ServiceRun``
        serves in that loop until SIGINT/SIGTERM. The plain statement ``MyService.run()``
        outside any loop runs it right away, as ``main()`` does (see ``entry.py``)."""
        return entry.run(cls, argv, sys._getframe(1))

    @classmethod
    def main(cls, argv: list[str] | None = None) -> NoReturn:
        """Run this service as this process, synchronously (no event loop of the caller's):
        parse ``argv`` (default ``sys.argv[1:]``), serve on uvloop where it is installed, and
        exit with the service's code (0 after SIGINT/SIGTERM or ``--describe``)."""
        entry.main(cls, argv)
