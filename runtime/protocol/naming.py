"""Subjects, KV buckets and keys of wire contract v1 (DESIGN.md), built in one place.

v1.1 adds identity subjects: an authenticated caller sends to the v1 subject plus one token, its
nkey public key (``svc.{sid}.cmd.{K}``, ``svc.{sid}.{call}.{K}``). nats-server lets only the
holder of K's seed publish there, so the token tells the service who is calling.
"""

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
    "probe",
    "unprobe",
    "stats",
    "break",
    "unbreak",
    "breaks",
    "step",
    "continue",
)
READ_ONLY_CALLS = frozenset({"status", "get_state", "get_rungraph", "describe"})
"""Calls that change nothing: any caller may make them, also on the plain v1 subjects."""
INBOX_ROOT = "_INBOX"
JETSTREAM_REPLY = "$JS."
"""How the reply subject of a message JetStream sends begins (``$JS.ACK.`` on a push consumer's
delivery, ``$JS.FC.`` on flow control). No request or data message carries one: a consumer can
deliver stored messages onto any subject (nats-server #8274), and such a delivery is told apart
by this reply and by its subject, which stays the stored one."""
KEY_RUNGRAPH = "rungraph"
KEY_READY = "ready"
KEY_ACTIVE = "active"
KEY_BREAKS = "breaks"
"""The breakpoints set with ``persist`` (``runtime.service.breakpoints``): a v1.1 extension."""
KEY_DEBUG = "debug"
"""The leader's pause and breakpoints, for the other instances' ``status``
(``runtime.service.debug_share``): a v1.1 extension."""
STATE_KEYS = "nodes.>"
ERROR_FIELD = "_error"

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def is_token(text: str) -> bool:
    return bool(_TOKEN.match(text))


def data_subject(service_id: str, node_id: str, port: str) -> str:
    return f"svc.{service_id}.nodes.{node_id}.data.{port}"


def probe_subject(service_id: str, probe_id: str) -> str:
    """Where service ``service_id`` publishes the samples of wire probe ``probe_id``."""
    return f"svc.{service_id}.probes.{probe_id}"


def cmd_subject(service_id: str) -> str:
    return f"svc.{service_id}.cmd"


def builtin_subject(service_id: str, call: str) -> str:
    return f"svc.{service_id}.{call}"


def identity_subject(subject: str, public_key: str) -> str:
    """``subject`` as sent by the holder of ``public_key`` (wire contract v1.1)."""
    return f"{subject}.{public_key}"


def identity_pattern(subject: str) -> str:
    """What a service subscribes to hear every caller's identity subject for ``subject``."""
    return f"{subject}.*"


def caller_key(subject: str, base: str) -> str | None:
    """The public key token of an identity subject of ``base``; None for ``base`` itself."""
    if subject == base:
        return None
    prefix = base + "."
    key = subject[len(prefix):] if subject.startswith(prefix) else ""
    if not key or "." in key:
        raise ValueError(f"{subject!r} is not {base!r} nor one of its identity subjects")
    return key


def inbox_prefix(public_key: str) -> str:
    """The reply inboxes of an identity: only the holder of ``public_key`` may subscribe there."""
    return f"{INBOX_ROOT}.{public_key}"


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
