"""Identifier and Instance (seed 001): how a namespace, component and endpoint are named, and one
running process of a component.

An instance's ``instance_id`` is an integer (seed 001:
``VLLM_WORKER_ID = self.instance.instance_id``): a random number from 1 to 2**53-1, drawn once
when a service host is made (a service process has exactly one host) and kept for the life of
the process, so it is unique per process with overwhelming odds and a JSON number every client
reads exactly (JavaScript included). It is not the NATS micro instance id: that string names
the instance on the wire (``svc.{sid}.instance.{id}``, KV ``instances.{id}``, the lease) and
only exists once the service serves, while the integer is there before the first hook runs.
``status`` shows both (``instance.instanceId`` and ``instance.number``), and discovery metadata
carries the integer as ``instanceNumber``.
"""

from __future__ import annotations

import secrets

from pydantic import BaseModel, ConfigDict, Field

MAX_INSTANCE_ID = 2**53 - 1
"""The largest instance id: the largest integer a JSON reader with doubles keeps exactly."""


def new_instance_id() -> int:
    """A fresh random instance id from 1 to ``MAX_INSTANCE_ID``."""
    return secrets.randbelow(MAX_INSTANCE_ID) + 1


class Identifier(BaseModel):
    """Names a component (service class) or one of its endpoints within a namespace."""

    model_config = ConfigDict(frozen=True)
    namespace: str
    component: str | None = None
    endpoint: str | None = None

    def __str__(self) -> str:
        parts = [self.namespace, self.component or "", self.endpoint or ""]
        return "/".join(p for p in parts if p)


class Instance(BaseModel):
    """An Identifier plus the id of one running process (immutable once created)."""

    model_config = ConfigDict(frozen=True)
    identifier: Identifier
    instance_id: int = Field(ge=0, le=MAX_INSTANCE_ID)
