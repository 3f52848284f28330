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
from runtime.protocol.graph_file import (
    GraphFile,
    GraphFileError,
    parse_graph,
    read_graph_file,
)
from runtime.protocol.identity import Identifier, Instance
from runtime.protocol.problems import GraphError, Problem, ProblemKind
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
    "GraphError",
    "GraphFile",
    "GraphFileError",
    "GraphNode",
    "GraphService",
    "Identifier",
    "Instance",
    "NodeSpec",
    "PortRef",
    "Problem",
    "ProblemKind",
    "Resources",
    "RunGraph",
    "StateFieldSpec",
    "StateValue",
    "decode_state",
    "encode_state",
    "parse_graph",
    "parse_request",
    "read_graph_file",
]
