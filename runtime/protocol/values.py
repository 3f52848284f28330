"""State values as kept in KV: the value plus its provenance.

A write-only field's value is kept *sealed*: ``{"value": null, "sealed": "<base64>", "ts",
"actor", "origin"}``, the ciphertext one only its service can open (``runtime.service.secrets``).
A reader of KV learns that the field was set, when and by whom, never the value; decoding gives
``StateValue.value`` as a ``Sealed`` holding the ciphertext.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import BaseModel, ValidationError

SEALED_KEY = "sealed"
"""The member of a KV state value that carries a sealed value's ciphertext."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A write-only field's value as KV keeps it: ciphertext (base64) only its service opens."""

    ciphertext: str

    def __repr__(self) -> str:  # a log line or a printed event never carries even the ciphertext
        return "Sealed(...)"


class StateValue(BaseModel):
    value: Any = None
    ts: int = 0
    actor: str = "runtime"
    origin: str = ""

    @property
    def sealed(self) -> bool:
        """The value is a write-only field's, sealed: ``value`` is a ``Sealed``."""
        return isinstance(self.value, Sealed)


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_INF = float("inf")


def _float_json(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii, int: int.__repr__, float: _float_json,
    bool: lambda value: "true" if value else "false", type(None): lambda value: "null"}
"""How ``_encode`` writes a value of exactly these types, without building an encoder per
call (``int.__repr__`` raises ValueError past Python's digit limit, as ``_encode`` does)."""


def encode_value(value: Any) -> str:
    """``value`` as JSON, the same text ``_encode`` gives (NaN and the infinities as the
    ``json`` module writes them, any other object as its ``str``)."""
    scalar = _SCALARS.get(type(value))
    return _encode(value) if scalar is None else scalar(value)


@functools.lru_cache(maxsize=4096)  # actors and origins repeat
def _provenance(actor: str, origin: str) -> str:
    """The end of an encoded state value after ``ts``: its actor and origin."""
    return f',"actor":{_encode(actor)},"origin":{_encode(origin)}}}'


def encode_state(value: Any, actor: str, origin: str) -> bytes:
    """Encode fast: this runs on every state write."""
    scalar = _SCALARS.get(type(value))  # encode_value, inlined
    text = _encode(value) if scalar is None else scalar(value)
    ts = int(time.time() * 1000)
    return f'{{"value":{text},"ts":{ts}{_provenance(actor, origin)}'.encode()


def encode_sealed(ciphertext: str, actor: str, origin: str) -> bytes:
    """A sealed value: ``value`` null, the ciphertext beside it, the provenance in the clear."""
    ts = int(time.time() * 1000)
    return (f'{{"value":null,"{SEALED_KEY}":{_encode(ciphertext)},"ts":{ts}'
            f'{_provenance(actor, origin)}').encode()


def wrap_state(value_json: str, actor: str, origin: str) -> bytes:
    """Like ``encode_state`` for a value already encoded as JSON (a whole rungraph)."""
    ts = int(time.time() * 1000)
    return f'{{"value":{value_json},"ts":{ts}{_provenance(actor, origin)}'.encode()


class StateDecodeError(ValueError):
    """Bytes that are not a state value: not UTF-8, not JSON, nested too deep, or a provenance
    of the wrong type. A ``ValueError``, so callers that caught the JSON error still catch it."""


def decode_state(data: bytes) -> StateValue:
    """Decode a KV state value; anything malformed raises ``StateDecodeError`` (never another
    exception type: restoring from KV skips what this refuses)."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise StateDecodeError(f"not a JSON state value: {_reason(exc)}") from None
    if not isinstance(raw, dict) or "value" not in raw:
        return StateValue(value=raw)
    try:
        decoded = StateValue.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise StateDecodeError(f"bad state value member {where!r}: {error['msg']}") from None
    ciphertext = raw.get(SEALED_KEY)
    if isinstance(ciphertext, str):
        decoded.value = Sealed(ciphertext)
    return decoded


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deep"
    return str(exc)[:200]
