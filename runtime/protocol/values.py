"""State values as kept in KV: the value plus its provenance."""

from __future__ import annotations

import functools
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
_quoted = functools.lru_cache(maxsize=1024)(_encode)  # actors and origins repeat


def encode_state(value: Any, actor: str, origin: str) -> bytes:
    """Encode fast: this runs on every state write."""
    ts = int(time.time() * 1000)
    return (f'{{"value":{_encode(value)},"ts":{ts},"actor":{_quoted(actor)},'
            f'"origin":{_quoted(origin)}}}').encode()


def wrap_state(value_json: str, actor: str, origin: str) -> bytes:
    """Like ``encode_state`` for a value already encoded as JSON (a whole rungraph)."""
    ts = int(time.time() * 1000)
    return (f'{{"value":{value_json},"ts":{ts},"actor":{_quoted(actor)},'
            f'"origin":{_quoted(origin)}}}').encode()


def decode_state(data: bytes) -> StateValue:
    raw = json.loads(data)
    if not isinstance(raw, dict) or "value" not in raw:
        return StateValue(value=raw)
    return StateValue.model_validate(raw)
