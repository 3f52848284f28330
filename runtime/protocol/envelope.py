"""The command envelope: one request and one reply shape for every call, built-in or user-defined.

Wire contract v1 (DESIGN.md). Every reply is an envelope, also on failure and also for malformed
bytes (then ``reqId`` is null).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ErrorCode(StrEnum):
    UNKNOWN_CALL = "UNKNOWN_CALL"
    INVALID_ARGS = "INVALID_ARGS"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"


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
        return _encode(self.to_json_dict()).encode()


def parse_request(data: bytes, call: str | None = None) -> CommandRequest:
    """Parse request bytes into a request.

    ``call`` is set for the built-in micro endpoints, whose subject names the command: there the
    payload may be a full envelope, the args object alone, or empty.
    Raises CommandError(INVALID_ARGS) with the reqId (if one could be read) in ``details``.
    """
    try:
        raw: Any = json.loads(data) if data.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(ErrorCode.INVALID_ARGS, f"request is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CommandError(
            ErrorCode.INVALID_ARGS, f"request must be a JSON object, got {type(raw).__name__}"
        )
    req_id = raw.get("reqId") if isinstance(raw.get("reqId"), str) else None
    if call is not None:
        envelope_keys = {"reqId", "call", "args", "timeoutMs", "meta"}
        if not (raw.keys() & {"call", "args", "reqId"}) or not raw.keys() <= envelope_keys:
            raw = {"args": raw}
        raw = {**raw, "call": raw.get("call") or call}
    try:
        return CommandRequest.model_validate(raw)
    except ValidationError as exc:
        raise CommandError(
            ErrorCode.INVALID_ARGS,
            "malformed request envelope: " + _first_errors(exc),
            {"reqId": req_id},
        ) from None


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validation_message(exc: ValidationError, limit: int = 3) -> str:
    return _first_errors(exc, limit)
