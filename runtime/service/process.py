"""``runtime.Service``: the service node of the component API plus ``run()``, its process entry.

A service file ends with ``MyService.run()`` (seed 001). Running a process is this layer's job, so
the runnable class lives here and the component layer below knows nothing of processes.
"""

from __future__ import annotations

from runtime.component import ServiceNode


class Service(ServiceNode):
    """Base class of services: declare state, data outputs and commands on the class (see
    ``runtime.component``), then end the file with ``MyService.run()``."""

    @classmethod
    def run(cls, argv: list[str] | None = None) -> None:
        """Run this service as a process: ``python3 my_service.py --nats URL --service-id ID``
        (``--describe`` prints its spec)."""
        # Imported here, not at the top: ``import runtime`` must not load the process machinery,
        # and ``python -m runtime.service.main`` must not find its module already imported.
        from runtime.service.main import main

        main(cls, argv)
