"""Decoding the history's direct-get messages: headers, puts with their provenance, deletes,
sealed and malformed values."""

from __future__ import annotations

import json

from runtime.client.history import _parse_headers, _Raw, decode_change

PREFIX = "$KV.svc_cam.nodes."


def headers(subject: str, seq: int, **extra: str) -> bytes:
    lines = ["NATS/1.0", "Nats-Stream-Source: KV_svc_cam 39 x > y abc", f"Nats-Subject: {subject}",
             f"Nats-Sequence: {seq}", "Nats-Time-Stamp: 2026-12-02T13:17:15.035055921Z",
             "Nats-Num-Pending: 4", *(f"{k.replace('_', '-')}: {v}" for k, v in extra.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_headers_and_a_status_line_are_parsed():
    parsed = _parse_headers(headers("$KV.svc_cam.nodes.n1.state.x", 5))
    assert parsed["Nats-Sequence"] == "5"
    assert parsed["Nats-Num-Pending"] == "4"
    assert "Status" not in parsed
    end = _parse_headers(b"NATS/1.0 204 EOB\r\nNats-Num-Pending: 0\r\n\r\n")
    assert (end["Status"], end["Description"], end["Nats-Num-Pending"]) == ("204", "EOB", "0")


def test_a_put_carries_its_value_and_provenance():
    data = json.dumps({"value": [1, 2], "ts": 1796217435035, "actor": "olga",
                       "origin": "set_state"}).encode()
    change = decode_change(_Raw(_parse_headers(headers(PREFIX + "n1.state.gain", 5)), data),
                           PREFIX)
    assert change is not None
    assert (change.seq, change.node, change.field, change.op) == (5, "n1", "gain", "PUT")
    assert (change.value, change.ts, change.actor, change.origin) == (
        [1, 2], 1796217435035, "olga", "set_state")
    assert change.stored.microsecond == 35055


def test_a_delete_a_sealed_value_and_bad_bytes_are_told_apart():
    gone = decode_change(_Raw(_parse_headers(headers(PREFIX + "n1.state.x", 6,
                                                     KV_Operation="DEL")), b""), PREFIX)
    assert gone is not None
    assert (gone.op, gone.value) == ("DEL", None)
    sealed = decode_change(_Raw(_parse_headers(headers(PREFIX + "n1.state.key", 7)),
                                b'{"value":null,"sealed":"QUJD","ts":1,"actor":"a",'
                                b'"origin":"set_state"}'), PREFIX)
    assert sealed is not None
    assert sealed.sealed
    assert sealed.value is None
    bad = decode_change(_Raw(_parse_headers(headers(PREFIX + "n1.state.x", 8)), b"{nope"),
                        PREFIX)
    assert bad is not None
    assert bad.origin.startswith("undecodable")
    assert decode_change(_Raw(_parse_headers(headers("$KV.svc_cam.rungraph", 9)), b"{}"),
                         PREFIX) is None
