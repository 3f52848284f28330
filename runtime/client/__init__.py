"""The client side of the wire contract: calls, discovery, state watches and deploys."""

from runtime.client.client import (
    Client,
    DeployError,
    ServiceRecord,
    ServiceUnavailable,
    StateEvent,
)

__all__ = ["Client", "DeployError", "ServiceRecord", "ServiceUnavailable", "StateEvent"]
