"""Rungraph runtime: Qt-free. The public API for writing operators and services."""

from runtime.component import (
    DataIn,
    DataOut,
    Depends,
    Event,
    ExecIn,
    ExecOut,
    Inputs,
    Node,
    Operator,
    ServiceNode,
    State,
    async_on_start,
    command,
)
from runtime.protocol.call_errors import (
    Busy,
    CallError,
    CallTimedOut,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    Internal,
    InvalidArgs,
    InvalidResult,
    NotFound,
    UnknownCall,
    error_for,
)
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.identity import Identifier, Instance
from runtime.protocol.spec import Resources
from runtime.registry import Registry, default_registry
from runtime.service.event_outbox import EventTooLarge
from runtime.service.events import (
    EventMessage,
    EventStream,
    EventSubscription,
    event_stream,
    subscribe_event,
)
from runtime.service.executor import ExecContext, SourceContext
from runtime.service.peers import ServiceClient
from runtime.service.process import Service
from runtime.service.subjects import (
    SubjectMessage,
    SubjectRefused,
    SubjectStream,
    check_subject,
)

__all__ = [
    "Busy",
    "CallError",
    "CallTimedOut",
    "CommandError",
    "Conflict",
    "DataIn",
    "DataOut",
    "DependencyUnavailable",
    "Depends",
    "ErrorCode",
    "Event",
    "EventMessage",
    "EventStream",
    "EventSubscription",
    "EventTooLarge",
    "ExecContext",
    "ExecIn",
    "ExecOut",
    "Forbidden",
    "Identifier",
    "Inputs",
    "Instance",
    "Internal",
    "InvalidArgs",
    "InvalidResult",
    "Node",
    "NotFound",
    "Operator",
    "Registry",
    "Resources",
    "Service",
    "ServiceClient",
    "ServiceNode",
    "SourceContext",
    "State",
    "SubjectMessage",
    "SubjectRefused",
    "SubjectStream",
    "UnknownCall",
    "async_on_start",
    "check_subject",
    "command",
    "default_registry",
    "error_for",
    "event_stream",
    "subscribe_event",
]
