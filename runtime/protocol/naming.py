"""Subjects, KV buckets and keys of wire contract v1 (DESIGN.md), built in one place."""

from __future__ import annotations

import re

BUILTIN_CALLS = (
    "activate",
    "deactivate",
    "status",
    "set_state",
    "get_state",
    "set_rungraph",
    "get_rungraph",
)
KEY_RUNGRAPH = "rungraph"
KEY_READY = "ready"
KEY_ACTIVE = "active"
STATE_KEYS = "nodes.>"
ERROR_FIELD = "_error"

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def is_token(text: str) -> bool:
    return bool(_TOKEN.match(text))


def data_subject(service_id: str, node_id: str, port: str) -> str:
    return f"svc.{service_id}.nodes.{node_id}.data.{port}"


def cmd_subject(service_id: str) -> str:
    return f"svc.{service_id}.cmd"


def builtin_subject(service_id: str, call: str) -> str:
    return f"svc.{service_id}.{call}"


def bucket_name(service_id: str) -> str:
    return f"svc_{service_id}"


def state_key(node_id: str, field: str) -> str:
    return f"nodes.{node_id}.state.{field}"


def parse_state_key(key: str) -> tuple[str, str] | None:
    parts = key.split(".")
    if len(parts) == 4 and parts[0] == "nodes" and parts[2] == "state":
        return parts[1], parts[3]
    return None


def micro_name(service_class: str) -> str:
    """NATS micro names allow only letters, digits, '-' and '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", service_class) or "service"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard match: '*' is one token, '>' the rest (one or more tokens)."""
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, tok in enumerate(p_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if tok != "*" and tok != s_tokens[i]:
            return False
    return len(p_tokens) == len(s_tokens)
