"""State values as kept in KV: the value plus its provenance."""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel


class StateValue(BaseModel):
    value: Any = None
    ts: int = 0
    actor: str = "runtime"
    origin: str = ""


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def encode_state(value: Any, actor: str, origin: str) -> bytes:
    """Encode fast: this runs on every state write (one shared encoder, no per-call setup)."""
    return _encode(
        {"value": value, "ts": int(time.time() * 1000), "actor": actor, "origin": origin}
    ).encode()


def decode_state(data: bytes) -> StateValue:
    raw = json.loads(data)
    if not isinstance(raw, dict) or "value" not in raw:
        return StateValue(value=raw)
    return StateValue.model_validate(raw)
