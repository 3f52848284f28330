"""The strict envelope: every field type-checked and bounded, depth and size limits, one reply
per input (issue 10, "The envelope is strict")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.protocol.envelope import (
    MAX_CALL_LEN,
    MAX_DEPTH,
    MAX_META_VALUE_LEN,
    MAX_REQ_ID_LEN,
    MAX_TIMEOUT_MS,
    CommandError,
    ErrorCode,
    json_depth,
    parse_request,
)
from runtime.transport.memory import MemoryHub
from tests.support import check_envelope, graph, node, request, service, simulate  # noqa: F401


def refusal(data: Any, call: str | None = None) -> CommandError:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(CommandError) as info:
        parse_request(raw, call)
    assert info.value.code is ErrorCode.INVALID_ARGS
    return info.value


@pytest.mark.parametrize("bad", [True, False, 0, -1, 1.5, 3000.0, "3000", [], {},
                                 MAX_TIMEOUT_MS + 1])
def test_timeout_ms_must_be_a_bounded_positive_integer(bad):
    exc = refusal({"call": "status", "timeoutMs": bad})
    assert exc.message.startswith("timeoutMs:")
    assert str(MAX_TIMEOUT_MS) in exc.message
    assert exc.details["field"] == "timeoutMs"


def test_an_overflowing_timeout_names_the_field_and_the_bound():
    exc = refusal(b'{"call": "status", "timeoutMs": 1e400}')
    assert exc.message.startswith("timeoutMs:")
    assert str(MAX_TIMEOUT_MS) in exc.message


def test_good_fields_parse():
    req = parse_request(json.dumps({"reqId": "r", "call": "x", "args": {"a": 1},
                                    "timeoutMs": MAX_TIMEOUT_MS,
                                    "meta": {"actor": "me", "traceId": None}}).encode())
    assert (req.reqId, req.call, req.args, req.timeoutMs) == ("r", "x", {"a": 1}, MAX_TIMEOUT_MS)


@pytest.mark.parametrize("bad", [0, False, None, {}, [], "", "x" * (MAX_CALL_LEN + 1)])
def test_call_must_be_a_short_string(bad):
    exc = refusal({"reqId": "r", "call": bad})
    assert exc.message.startswith("call:")
    assert exc.details["reqId"] == "r"


def test_a_missing_call_is_named():
    assert refusal({"reqId": "r"}).message.startswith("call:")


@pytest.mark.parametrize("bad", [0, False, None, {}, [], "", "deactivate"])
def test_a_micro_endpoint_never_replaces_a_bad_call_with_its_name(bad):
    exc = refusal({"call": bad}, call="activate")
    assert exc.message.startswith("call:")
    assert "'activate'" in exc.message


def test_a_micro_endpoint_takes_an_envelope_without_call_or_bare_args():
    assert parse_request(b'{"reqId": "r"}', "activate").call == "activate"
    assert parse_request(b"", "status").call == "status"
    assert parse_request(b'{"nodeId": "c"}', "get_state").args == {"nodeId": "c"}


@pytest.mark.parametrize("bad", [5, True, [], {}, "r" * (MAX_REQ_ID_LEN + 1)])
def test_req_id_is_a_bounded_string_or_absent(bad):
    exc = refusal({"reqId": bad, "call": "status"})
    assert exc.message.startswith("reqId:")
    assert exc.details["reqId"] is None


@pytest.mark.parametrize("bad", [[], "x", 1, True])
def test_args_must_be_an_object(bad):
    assert refusal({"call": "status", "args": bad}).message.startswith("args:")


@pytest.mark.parametrize("bad", [[], "x", 1, {"actor": 5}, {"traceId": {}},
                                 {"actor": "a" * (MAX_META_VALUE_LEN + 1)},
                                 {f"k{i}": "v" for i in range(100)}])
def test_meta_is_an_object_of_bounded_strings(bad):
    assert refusal({"call": "status", "meta": bad}).message.startswith("meta")


def test_unknown_envelope_fields_are_named():
    exc = refusal({"call": "status", "bogus": 1})
    assert "bogus" in exc.message


@pytest.mark.parametrize("data", [b"\xff{", b"{", b"[1]", b"3", b'"s"', b"null", b"NaN",
                                  b'{"call": "x", "args": {"n": Infinity}}',
                                  b'{"call": "x", "args": {"n": ' + b"9" * 5000 + b"}}",
                                  b'{"call": "x", "args": {"n": -1e999}}'])
def test_malformed_requests_are_refused_with_a_null_req_id(data):
    exc = refusal(data)
    assert exc.details.get("reqId") is None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 100_000])
def test_deep_nesting_is_refused_before_parsing(depth):
    data = b'{"call": "x", "args": {"a": ' + b"[" * depth + b"]" * depth + b"}}"
    exc = refusal(data)
    assert exc.message.startswith("request:")
    assert str(MAX_DEPTH) in exc.message


def test_the_size_limit_names_itself():
    with pytest.raises(CommandError) as info:
        parse_request(b'{"call": "x", "args": {"a": "' + b"x" * 100 + b'"}}', max_bytes=50)
    assert "50 bytes" in info.value.message


def test_json_depth_ignores_brackets_in_strings():
    text = json.dumps({"a": "[[[[{{{{" * 100, "b": [[1]]}).encode()
    assert json_depth(text) == 3
    assert json_depth(b"[" * 500 + b"]" * 500) == 500


# -- over the memory transport: one reply each ---------------------------------------------


@pytest.fixture
async def svc(simulate):
    hub = MemoryHub()
    sim = await simulate(graph([node("c", "core.counter")], services=[service("main")]),
                         hub=hub)
    return hub, sim


async def replies_to(hub: MemoryHub, subject: str, data: bytes) -> list[dict[str, Any]]:
    transport = hub.connect()
    got: list[dict[str, Any]] = []
    inbox = transport.new_inbox()

    async def on_reply(msg: Any) -> None:
        got.append(json.loads(msg.data))

    await transport.subscribe(inbox, on_reply)
    await transport.publish(subject, data, reply=inbox)
    for _ in range(100):
        await hub.settle()
        await asyncio.sleep(0.002)
        if got:
            break
    await asyncio.sleep(0.01)
    await hub.settle()
    await transport.close()
    return got


@pytest.mark.parametrize("body", [b'{"call":' * 1000, b"[" * 1000 + b"]" * 1000,
                                  b'{"call": "status", "timeoutMs": 1e400}', b"\xff"])
async def test_hostile_bytes_get_exactly_one_reply(svc, body):
    hub, _ = svc
    got = await replies_to(hub, "svc.main.cmd", body)
    assert len(got) == 1
    check_envelope(got[0])
    assert got[0]["error"]["code"] == "INVALID_ARGS"
    assert got[0]["reqId"] is None


@pytest.mark.parametrize("call", [0, False, None, {}])
async def test_a_bad_call_on_a_micro_endpoint_does_not_flip_active(svc, call):
    hub, sim = svc
    bus = sim.hosts["main"].bus
    before = bus.active
    subject = "svc.main.deactivate" if before else "svc.main.activate"
    got = await replies_to(hub, subject, json.dumps({"call": call}).encode())
    assert [r["error"]["code"] for r in got] == ["INVALID_ARGS"]
    assert bus.active == before


async def test_unknown_builtin_args_are_named(svc):
    hub, _ = svc
    reply = await request(hub.connect(), "svc.main.cmd",
                          {"reqId": "r", "call": "status", "args": {"verbose": True}})
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "verbose" in reply["error"]["message"]
    reply = await request(hub.connect(), "svc.main.set_state",
                          {"nodeId": "c", "field": "step", "value": 2, "extra": 1})
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "extra" in reply["error"]["message"]
    reply = await request(hub.connect(), "svc.main.get_state", {"nodeId": 5})
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "nodeId" in reply["error"]["message"]


async def test_a_reply_past_max_payload_is_replaced_naming_the_limit(svc):
    hub, _ = svc
    hub.max_payload = 300
    reply = await request(hub.connect(), "svc.main.cmd",
                          {"reqId": "big", "call": "describe"})
    assert reply["reqId"] == "big"
    assert reply["ok"] is False
    assert reply["error"]["code"] == "INTERNAL"
    assert "300" in reply["error"]["message"]
    reply = await request(hub.connect(), "svc.main.cmd",
                          {"reqId": "r", "call": "no_such_call_" + "y" * 100})
    assert reply["error"]["code"] == "UNKNOWN_CALL"  # a refusal keeps its code
    assert "300" in reply["error"]["message"]
    assert reply["error"]["details"]["maxPayload"] == 300
    reply = await request(hub.connect(), "svc.main.cmd", {"call": "x", "args": {"a": "b" * 400}})
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "300 bytes" in reply["error"]["message"]


# -- property: generated envelopes against a service on the memory transport ------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)
CALLS = ["activate", "deactivate", "status", "get_state", "set_state", "set_rungraph",
         "get_rungraph", "describe", "nope"]
MUTATING = {"activate", "deactivate", "set_state", "set_rungraph"}
ENDPOINTS = ["cmd", "activate", "deactivate", "set_state", "set_rungraph", "status"]


def fields() -> st.SearchStrategy[dict[str, Any]]:
    good_args = st.sampled_from([{}, {"nodeId": "c", "field": "step", "value": 3},
                                 {"nodeId": "c"}, {"rungraph": {"nodes": []}}])
    return st.fixed_dictionaries({}, optional={
        "reqId": st.text(max_size=10) | json_values,
        "call": st.sampled_from(CALLS) | json_values,
        "args": good_args | json_values,
        "timeoutMs": st.integers(1, 5000) | json_values,
        "meta": st.just({"actor": "fuzz"}) | json_values,
        "extra": json_values,
    })


def nested(depth: int) -> bytes:
    return b'{"call": "activate", "args": {"a": ' + b"[" * depth + b"]" * depth + b"}}"


payloads = st.one_of(
    fields().map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.integers(1, 3000).map(nested),
)


def snapshot(sim: Any) -> tuple[Any, ...]:
    host = sim.hosts["main"]
    return host.bus.active, host.graph.revision, json.dumps(host.bus.state, sort_keys=True,
                                                            default=str)


def plausible(body: bytes, endpoint: str) -> bool:
    """An independent, loose reading of the contract: could this request be valid at all?"""
    try:
        env = json.loads(body) if body.strip(b" \t\n\r") else {}
    except (ValueError, RecursionError):
        return False
    if not isinstance(env, dict):
        return False
    if endpoint != "cmd" and (not env.keys() & {"call", "args", "reqId"}
                              or not env.keys() <= {"reqId", "call", "args", "timeoutMs",
                                                    "meta"}):
        env = {"args": env, "call": endpoint}
    call = env.get("call", endpoint if endpoint != "cmd" else None)
    timeout = env.get("timeoutMs")
    return (isinstance(call, str) and (endpoint == "cmd" or call == endpoint)
            and isinstance(env.get("args", {}), dict)
            and (timeout is None or (type(timeout) is int and timeout > 0))
            and (env.get("reqId") is None or isinstance(env["reqId"], str))
            and (env.get("meta") is None or isinstance(env["meta"], dict))
            and not env.keys() - {"reqId", "call", "args", "timeoutMs", "meta"})


@pytest.fixture(scope="module")
def live_service():
    loop = asyncio.new_event_loop()
    hub = MemoryHub()

    async def start() -> Any:
        from runtime.service.sim import Simulation

        sim = Simulation(hub=hub)
        await sim.load(graph([node("c", "core.counter")], services=[service("main")]))
        return sim

    sim = loop.run_until_complete(start())
    yield loop, hub, sim
    loop.run_until_complete(sim.stop())
    loop.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=payloads, endpoint=st.sampled_from(ENDPOINTS))
def test_every_generated_request_gets_one_reply_and_changes_nothing_unless_valid(
        live_service, body, endpoint):
    loop, hub, sim = live_service
    before = snapshot(sim)
    got = loop.run_until_complete(replies_to(hub, f"svc.main.{endpoint}", body))
    after = snapshot(sim)
    assert len(got) == 1, f"{len(got)} replies to {body[:80]!r}"
    reply = check_envelope(got[0])
    assert isinstance(reply["ok"], bool)
    if reply["ok"]:
        assert plausible(body, endpoint), f"accepted {body[:200]!r} on {endpoint}"
    else:
        assert reply["error"]["code"] in {c.value for c in ErrorCode}
        assert after == before, f"{body[:200]!r} on {endpoint} was refused but changed state"
    if after != before:
        env = json.loads(body) if body.strip(b" \t\n\r") else {}
        call = env.get("call", endpoint) if isinstance(env, dict) else None
        assert reply["ok"]
        assert (call in MUTATING or endpoint in MUTATING)
    try:
        sent = json.loads(body)
    except (ValueError, RecursionError):
        sent = None
    if reply["reqId"] is not None:
        assert isinstance(sent, dict)
        assert sent.get("reqId") == reply["reqId"]


# -- CLI input holes ---------------------------------------------------------------------------


def cli(argv: list[str]) -> int:
    from runtime.cli.main import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("argv", [
    ["call", "a.b", "status"], ["status", "a b"], ["watch", "a>"],
    ["service", "--service-id", "a.b", "--describe"],
    ["service", "--service-id=x*", "--describe"],
])
def test_an_invalid_service_id_is_a_clear_error_and_exit_2(argv, capsys):
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert "invalid service id" in err
    assert "Traceback" not in err


def test_deep_json_args_are_a_clear_error_and_exit_2(capsys):
    deep = "[" * 5000 + "]" * 5000
    assert cli(["call", "svc", "status", deep, "--nats", "nats://127.0.0.1:1"]) == 2
    assert "nests deeper" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["validate", "sim", "deploy"])
def test_a_deep_or_directory_graph_file_is_a_clear_error_and_exit_2(command, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"nodes": ' + "[" * 5000 + "]" * 5000 + "}")
    extra = ["--nats", "nats://127.0.0.1:1"] if command == "deploy" else []
    assert cli([command, str(deep), *extra]) == 2
    assert "nests deeper" in capsys.readouterr().err
    assert cli([command, str(tmp_path), *extra]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_a_null_meta_is_no_meta_on_the_router_and_the_fast_path():
    """A client that writes an empty map as null (Go's nil map) is answered, not refused."""
    from runtime.service.fast_path import parse_fast

    data = b'{"reqId": "r1", "call": "status", "args": {}, "meta": null}'
    routed, fast = parse_request(data, None), parse_fast(data, None)
    assert fast is not None
    assert routed == fast
    assert routed.meta.actor is None
    assert routed.reqId == "r1"
