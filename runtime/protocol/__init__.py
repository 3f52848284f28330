"""Protocol models: the single source of truth for the wire and the graph document."""

from runtime.protocol.envelope import (
    CommandError,
    CommandReply,
    CommandRequest,
    ErrorCode,
    ErrorInfo,
    parse_request,
)
from runtime.protocol.graph import GraphEdge, GraphNode, GraphService, PortRef, RunGraph
from runtime.protocol.identity import Identifier, Instance
from runtime.protocol.spec import (
    CommandSpec,
    DataPortSpec,
    ExecPortSpec,
    NodeSpec,
    Resources,
    StateFieldSpec,
)
from runtime.protocol.values import StateValue, decode_state, encode_state

__all__ = [
    "CommandError",
    "CommandReply",
    "CommandRequest",
    "CommandSpec",
    "DataPortSpec",
    "ErrorCode",
    "ErrorInfo",
    "ExecPortSpec",
    "GraphEdge",
    "GraphNode",
    "GraphService",
    "Identifier",
    "Instance",
    "NodeSpec",
    "PortRef",
    "Resources",
    "RunGraph",
    "StateFieldSpec",
    "StateValue",
    "decode_state",
    "encode_state",
    "parse_request",
]
