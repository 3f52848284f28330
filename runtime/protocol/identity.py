"""Identifier and Instance (seed 001): how a namespace, component and endpoint are named."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
    instance_id: str
