"""Transports: the in-memory one here, the NATS one in runtime.transport.nats."""

from runtime.transport.base import (
    EndpointDef,
    KeyValue,
    KVEntry,
    Msg,
    NoResponders,
    NotAuthorized,
    ServiceInfo,
    Transport,
    TransportError,
    TransportTimeout,
)
from runtime.transport.memory import MemoryHub, MemoryTransport

__all__ = [
    "EndpointDef",
    "KVEntry",
    "KeyValue",
    "MemoryHub",
    "MemoryTransport",
    "Msg",
    "NoResponders",
    "NotAuthorized",
    "ServiceInfo",
    "Transport",
    "TransportError",
    "TransportTimeout",
]
