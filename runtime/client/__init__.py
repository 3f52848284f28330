"""The client side of the wire contract: calls, discovery, state watches, deploys and launching
service processes."""

from runtime.client.caller import Caller
from runtime.client.client import Client, ServiceRecord, StateEvent
from runtime.client.deploy import deploy
from runtime.client.errors import (
    BadReply,
    CallTimeout,
    DeployError,
    NoService,
    ServiceExited,
    ServiceUnavailable,
)
from runtime.client.launch import launch_service, service_argv, service_command, wait_answering

__all__ = [
    "BadReply",
    "CallTimeout",
    "Caller",
    "Client",
    "DeployError",
    "NoService",
    "ServiceExited",
    "ServiceRecord",
    "ServiceUnavailable",
    "StateEvent",
    "deploy",
    "launch_service",
    "service_argv",
    "service_command",
    "wait_answering",
]
