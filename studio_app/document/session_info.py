"""Who Studio is on the bus, and what that lets it do: one Qt-free model the shell and the panels
observe, beside the live state.

The bridge fills it after connecting to NATS (the identity the server authenticated, as the
namespace's identity directory names it) and empties it when the session ends. Its ``refusal``
answers "may Studio make this call on that service?" with None or the reason it may not, for a
disabled control's tooltip. The decision itself is the bridge's (``Gate``): it applies the
runtime's role-per-call table, which this package may not import. With no connection (editing,
or Simulate, which runs in this process) nothing is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from studio_app.document.events import Event

OPEN_SERVER = "open server (no auth)"


class Gate(Protocol):
    """What the connected identity may do, by call and service."""

    def refusal(self, call: str, service_id: str) -> str | None:
        """None when ``call`` on ``service_id`` is allowed; else why not, in a sentence."""
        ...


@dataclass(frozen=True)
class Who:
    """An identity as the identity directory knows it (its public facts only)."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        """``role:name``: how KV provenance and the services' logs name it."""
        return f"{self.role}:{self.name}"


@dataclass(frozen=True)
class Connection:
    """One connection to NATS: where, in which namespace, as whom, and its ``Gate``.

    ``public_key`` is None on an open server (it authenticates nobody); ``who`` is None there
    and for a key the identity directory does not know."""

    url: str
    namespace: str
    public_key: str | None
    who: Who | None
    gate: Gate

    @property
    def authenticated(self) -> bool:
        return self.public_key is not None

    @property
    def label(self) -> str:
        """One line for the status bar, e.g. ``admin:alice @ default``."""
        if not self.authenticated:
            return OPEN_SERVER
        if self.who is None:
            return f"unknown identity @ {self.namespace}"
        return f"{self.who.actor} @ {self.namespace}"

    @property
    def details(self) -> str:
        """A tooltip: the server, and the key the server checked."""
        if not self.authenticated:
            return (f"{self.url} authenticates nobody: anyone who can reach it may deploy "
                    "and run code")
        known = "" if self.who is not None else " (not in the identity directory)"
        return f"{self.url}, namespace {self.namespace}\npublic key {self.public_key}{known}"


class SessionInfoEvents:
    def __init__(self) -> None:
        self.changed = Event("changed")  # (the connection changed, or ended)


class SessionInfo:
    def __init__(self) -> None:
        self.events = SessionInfoEvents()
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection | None:
        """The NATS connection of the running session; None while editing or simulating."""
        return self._connection

    def set_connection(self, connection: Connection | None) -> None:
        if connection != self._connection:
            self._connection = connection
            self.events.changed.emit()

    def clear(self) -> None:
        self.set_connection(None)

    def refusal(self, call: str, service_id: str = "") -> str | None:
        """Why the connected identity may not make ``call`` on ``service_id`` (None: it may,
        or nothing is connected)."""
        if self._connection is None:
            return None
        return self._connection.gate.refusal(call, service_id)
