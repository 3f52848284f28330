"""Rungraph runtime: Qt-free. The public API for writing operators and services."""

from runtime.component import (
    DataIn,
    DataOut,
    ExecIn,
    ExecOut,
    Inputs,
    Node,
    Operator,
    ServiceNode,
    State,
    command,
)
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.spec import Resources
from runtime.registry import Registry, default_registry
from runtime.service.executor import ExecContext, SourceContext
from runtime.service.process import Service

__all__ = [
    "CommandError",
    "DataIn",
    "DataOut",
    "ErrorCode",
    "ExecContext",
    "ExecIn",
    "ExecOut",
    "Inputs",
    "Node",
    "Operator",
    "Registry",
    "Resources",
    "Service",
    "ServiceNode",
    "SourceContext",
    "State",
    "command",
    "default_registry",
]
