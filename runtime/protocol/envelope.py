"""The command envelope: one request and one reply shape for every call, built-in or user-defined.

Wire contract v1 (DESIGN.md). Every reply is an envelope, also on failure and also for malformed
bytes (then ``reqId`` is null).
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ErrorCode(StrEnum):
    UNKNOWN_CALL = "UNKNOWN_CALL"
    INVALID_ARGS = "INVALID_ARGS"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"
    BUSY = "BUSY"
    """v1.1: the service's admission limit is reached; the call was not started (try later)."""


class CommandError(Exception):
    """Raised inside a command handler; becomes an error envelope."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class RequestMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    traceId: str | None = None
    actor: str | None = None


class CommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reqId: str | None = None
    call: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    timeoutMs: int | None = Field(default=None, gt=0)
    meta: RequestMeta = Field(default_factory=RequestMeta)


class ErrorInfo(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


STREAM_MAX_REPLIES = 10_000
"""The most replies one streamed call sends, its final reply included: a service ends a stream
that would send more with a final INTERNAL reply. nats-server lets a service answer each request
this many times (``allow_responses``), so the bound is part of the wire contract."""
STREAM_MAX_S = 120.0
"""How long one streamed call may run, in seconds from the moment the service takes it: a
stream still running then ends with a final TIMEOUT reply (the same bound on the server side)."""


class StreamInfo(BaseModel):
    """Where a reply sits in a streamed command's replies: ``seq`` from 0, ``final`` on the last."""

    model_config = ConfigDict(extra="allow")
    seq: int
    final: bool


class CommandReply(BaseModel):
    reqId: str | None
    ok: bool
    result: Any = None
    error: ErrorInfo | None = None
    stream: StreamInfo | None = None
    """Set only on the replies of a streamed command; absent from the wire otherwise."""

    @classmethod
    def success(cls, req_id: str | None, result: Any) -> CommandReply:
        return cls(reqId=req_id, ok=True, result=result, error=None)

    @classmethod
    def failure(
        cls,
        req_id: str | None,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> CommandReply:
        return cls(
            reqId=req_id,
            ok=False,
            result=None,
            error=ErrorInfo(code=code, message=message, details=details or {}),
        )

    def streamed(self, seq: int, final: bool) -> CommandReply:
        """This reply as item ``seq`` of a stream."""
        return self.model_copy(update={"stream": StreamInfo(seq=seq, final=final)})

    def to_json_dict(self) -> dict[str, Any]:
        """The envelope as it goes on the wire: four keys, and ``stream`` when streamed."""
        body: dict[str, Any] = {
            "reqId": self.reqId,
            "ok": self.ok,
            "result": self.result,
            "error": None if self.error is None else self.error.model_dump(mode="json"),
        }
        if self.stream is not None:
            body["stream"] = self.stream.model_dump(mode="json")
        return body

    def to_bytes(self) -> bytes:
        """The envelope as JSON: compact, anything JSON has no type for as its ``str()``, a
        non-finite float as null."""
        return encode_json(self.to_json_dict())


MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""The largest request a service parses when its connection names no smaller limit (NATS's own
``max_payload`` ceiling); over NATS the connection's ``max_payload`` is the limit."""
MAX_DEPTH = 100
"""How deeply a request's JSON may nest (the envelope object is level 1): deeper is refused
before it is parsed, so hostile nesting never reaches a recursive parser."""
MAX_TIMEOUT_MS = 3_600_000
"""``timeoutMs`` is an integer from 1 to this (one hour)."""
MAX_REQ_ID_LEN = 256
MAX_CALL_LEN = 128
MAX_META_KEYS = 32
MAX_META_KEY_LEN = 64
MAX_META_VALUE_LEN = 256
ENVELOPE_KEYS = frozenset({"reqId", "call", "args", "timeoutMs", "meta"})

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def json_depth(data: bytes) -> int:
    """How deeply the JSON text ``data`` nests, found without recursion and without parsing
    (brackets inside strings do not count; malformed text gets an estimate). Text with at most
    ``MAX_DEPTH`` brackets in all gets that count instead: an upper bound, enough to compare."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return data.count(b"[") + data.count(b"{")  # an upper bound, cheap and small enough
    brackets = _JSON_STRING.sub(b'""', data).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in _OPENERS else -1
        deepest = max(deepest, depth)
    return deepest


_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_DIGITS = b"0" * 19


def has_long_number(data: bytes) -> bool:
    """Whether ``data`` holds a run of 19 digits or more: perhaps an integer past 64 bits,
    which a fast parser (orjson) reads as a float where ``json`` keeps it exact. Two C passes
    over the bytes (a regex takes ten times as long)."""
    return _LONG_DIGITS in data.translate(_DIGITS_AS_ZERO)


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON number")


def _refuse(field: str, message: str, req_id: str | None) -> CommandError:
    return CommandError(ErrorCode.INVALID_ARGS, f"{field}: {message}",
                        {"reqId": req_id, "field": field})


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), type(value).__name__)


def parse_request(data: bytes, call: str | None = None,
                  max_bytes: int = MAX_REQUEST_BYTES) -> CommandRequest:
    """Parse request bytes into a request; every field is checked strictly.

    ``call`` is set for the built-in micro endpoints, whose subject names the command: there the
    payload may be a full envelope, the args object alone, or empty; an envelope's ``call``, when
    present, must be that name. Raises CommandError(INVALID_ARGS) whose message starts with the
    field at fault, with the reqId (if one could be read) and the field in ``details``.
    """
    if len(data) > max_bytes:
        raise _refuse("request", f"{len(data)} bytes, more than the limit of {max_bytes} bytes",
                      None)
    if json_depth(data) > MAX_DEPTH:
        raise _refuse("request", f"JSON nests deeper than the limit of {MAX_DEPTH} levels", None)
    out_of_range = False

    def number(text: str) -> float:
        nonlocal out_of_range
        value = float(text)
        out_of_range = out_of_range or not math.isfinite(value)
        return value

    try:
        text = data.decode("utf-8")
        raw: Any = (json.loads(text, parse_float=number, parse_constant=_no_constant)
                    if text.strip(" \t\n\r") else {})
    except UnicodeDecodeError as exc:
        raise _refuse("request", f"not valid JSON (not UTF-8): {exc}", None) from None
    except RecursionError:
        raise _refuse("request", f"JSON nests deeper than the limit of {MAX_DEPTH} levels",
                      None) from None
    except ValueError as exc:  # JSONDecodeError, non-finite or over-long numbers
        raise _refuse("request", f"not valid JSON: {str(exc)[:200]}", None) from None
    if not isinstance(raw, dict):
        raise _refuse("request", f"must be a JSON object, got {_kind(raw)}", None)
    req_id = raw.get("reqId")
    if req_id is not None and (not isinstance(req_id, str) or len(req_id) > MAX_REQ_ID_LEN):
        raise _refuse("reqId", f"must be a string of at most {MAX_REQ_ID_LEN} characters or "
                               f"absent, got {_kind(req_id)}"
                               + (f" of {len(req_id)}" if isinstance(req_id, str) else ""), None)
    if call is not None:
        if not (raw.keys() & {"call", "args", "reqId"}) or not raw.keys() <= ENVELOPE_KEYS:
            raw, req_id = {"args": raw}, None
        if "call" not in raw:
            raw = {**raw, "call": call}
        elif not isinstance(raw["call"], str) or raw["call"] != call:
            shown = repr(raw["call"])[:60] if isinstance(raw["call"], str) else _kind(raw["call"])
            raise _refuse("call", f"endpoint {call!r} got an envelope for {shown}; its call "
                                  f"must be {call!r} or absent", req_id)
    unknown = sorted(str(k)[:64] for k in raw.keys() - ENVELOPE_KEYS)
    if unknown:
        raise _refuse(unknown[0], f"unknown envelope field(s) {', '.join(unknown[:10])}; "
                                  f"allowed: {', '.join(sorted(ENVELOPE_KEYS))}", req_id)
    name = raw.get("call")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_CALL_LEN:
        got = "absent" if "call" not in raw else (
            f"a string of {len(name)}" if isinstance(name, str) else _kind(name))
        raise _refuse("call", f"must be a string of 1 to {MAX_CALL_LEN} characters, got {got}",
                      req_id)
    if "args" in raw and not isinstance(raw["args"], dict):
        raise _refuse("args", f"must be an object, got {_kind(raw['args'])}", req_id)
    timeout = raw.get("timeoutMs")
    if timeout is not None and (type(timeout) is not int
                                or not 1 <= timeout <= MAX_TIMEOUT_MS):
        got = str(timeout) if type(timeout) is int else _kind(timeout)
        raise _refuse("timeoutMs", f"must be an integer from 1 to {MAX_TIMEOUT_MS} (ms), got "
                                   f"{got}", req_id)
    _check_meta(raw.get("meta"), req_id)
    if "meta" in raw and raw["meta"] is None:  # a client's empty map as null: no meta
        del raw["meta"]
    if out_of_range and _has_non_finite(raw.get("args")):
        raise _refuse("args", "holds a number out of the range of a 64-bit float", req_id)
    try:
        return CommandRequest.model_validate(raw)
    except ValidationError as exc:
        raise CommandError(
            ErrorCode.INVALID_ARGS,
            "malformed request envelope: " + _first_errors(exc),
            {"reqId": req_id},
        ) from None


def _check_meta(meta: Any, req_id: str | None) -> None:
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise _refuse("meta", f"must be an object, got {_kind(meta)}", req_id)
    if len(meta) > MAX_META_KEYS:
        raise _refuse("meta", f"has {len(meta)} keys, more than the limit of {MAX_META_KEYS}",
                      req_id)
    for key, value in meta.items():
        if len(key) > MAX_META_KEY_LEN:
            raise _refuse("meta", f"key {key[:40]!r}... is longer than {MAX_META_KEY_LEN} "
                                  "characters", req_id)
        if value is not None and (not isinstance(value, str)
                                  or len(value) > MAX_META_VALUE_LEN):
            got = f"a string of {len(value)}" if isinstance(value, str) else _kind(value)
            raise _refuse(f"meta.{key}", f"must be a string of at most {MAX_META_VALUE_LEN} "
                                         f"characters, got {got}", req_id)


_encode = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False).encode
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def encode_json(value: Any) -> bytes:
    """``value`` as compact JSON, as the stdlib's encoder with ``default=str`` writes it, but
    fast (orjson); an integer past 64 bits or a key that is not a string takes the stdlib's
    way. A non-finite float is written as null on both ways (JSON has no NaN)."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
    except TypeError:
        return _encode(_finite(value)).encode()


def _finite(value: Any) -> Any:
    """``value`` with each non-finite float replaced by None (walked without recursion only
    where the stdlib encoder is used: the rare values orjson refuses)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, dict | list | tuple):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        holder, where = stack.pop()
        item = holder[where]
        if isinstance(item, float) and not math.isfinite(item):
            holder[where] = None
        elif isinstance(item, dict):
            copy = dict(item)
            holder[where] = copy
            stack.extend((copy, k) for k in copy)
        elif isinstance(item, list | tuple):
            copy_list = list(item)
            holder[where] = copy_list
            stack.extend((copy_list, i) for i in range(len(copy_list)))
    return root[0]


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validation_message(exc: ValidationError, limit: int = 3) -> str:
    return _first_errors(exc, limit)
