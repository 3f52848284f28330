"""server.conf rendered from identities, and the permissions of each role as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.auth import AuthStore, Identity, Role, permissions_for
from runtime.auth.server_config import render, server_config


def identity(role: Role, name: str = "x", namespace: str = "default",
             service_id: str | None = None) -> Identity:
    return Identity(name, role, namespace, service_id, f"U{name.upper()}", "2025-01-01T00:00:00Z")


def test_one_account_per_namespace_with_jetstream() -> None:
    config = server_config([identity(Role.viewer, "a", "one"), identity(Role.admin, "b", "two"),
                            identity(Role.viewer, "c", "one")])
    assert set(config["accounts"]) == {"one", "two"}
    assert config["accounts"]["one"]["jetstream"] == "enabled"
    assert [u["nkey"] for u in config["accounts"]["one"]["users"]] == ["UA", "UC"]


def test_the_rendered_file_is_a_comment_and_json() -> None:
    text = render([identity(Role.viewer, "a")])
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert json.loads(body) == server_config([identity(Role.viewer, "a")])
    assert "password" not in text


def test_every_identity_subscribes_to_its_own_inboxes_only() -> None:
    for role in Role:
        perms = permissions_for(identity(role, service_id="s1" if role is Role.service else None))
        inboxes = [s for s in perms.subscribe if s.startswith("_INBOX")]
        assert inboxes == ["_INBOX.UX.>"], role


def test_viewer_reads_and_changes_nothing() -> None:
    perms = permissions_for(identity(Role.viewer))
    assert "svc.*.status" in perms.publish
    assert "svc.*.cmd.UX" in perms.publish
    assert not [s for s in perms.publish if s.startswith(("svc.*.set_", "svc.*.activate",
                                                          "svc.*.deactivate", "$KV."))]
    assert "$JS.API.STREAM.CREATE.*" not in perms.publish
    assert not perms.allow_responses


def test_roles_grow_from_viewer_to_admin() -> None:
    viewer = set(permissions_for(identity(Role.viewer)).publish)
    operator = set(permissions_for(identity(Role.operator)).publish)
    admin = set(permissions_for(identity(Role.admin)).publish)
    assert operator - viewer == {"svc.*.set_state.UX", "svc.*.activate.UX",
                                 "svc.*.deactivate.UX", "svc.*.break.UX", "svc.*.unbreak.UX",
                                 "svc.*.breaks.UX", "svc.*.step.UX", "svc.*.continue.UX"}
    assert admin - operator == {"svc.*.set_rungraph.UX"}


def test_a_service_publishes_under_its_own_id_and_bucket() -> None:
    perms = permissions_for(identity(Role.service, "s1", service_id="s1"))
    assert [s for s in perms.publish if s.startswith("svc.s1.")] == ["svc.s1.>"]
    assert [s for s in perms.publish if s.startswith("$KV.")] == ["$KV.svc_s1.>"]
    assert perms.subscribe == ("_INBOX.US1.>", "svc.s1.>", "$SRV.>", "svc.*.nodes.>",
                               "svc.*.events.>")


def test_a_service_calls_others_as_a_viewer_does_and_never_their_admin_subjects() -> None:
    perms = permissions_for(identity(Role.service, "s1", service_id="s1"))
    others = {s for s in perms.publish if s.startswith("svc.") and not s.startswith("svc.s1.")}
    assert others == {"svc.*.status", "svc.*.get_state", "svc.*.get_rungraph", "svc.*.cmd.US1"}
    viewer = set(permissions_for(identity(Role.viewer, "s1")).publish)
    assert others <= viewer


def test_no_service_creates_or_changes_a_stream_not_even_its_own() -> None:
    """A stream's subjects are not checked against its creator's permissions: whoever may
    create or update one can make it capture other services' requests."""
    perms = permissions_for(identity(Role.service, "s1", service_id="s1"), ["s1", "s2"])
    assert not [s for s in perms.publish if s.startswith("$JS.API.STREAM.")
                and not s.startswith(("$JS.API.STREAM.INFO.", "$JS.API.STREAM.NAMES",
                                      "$JS.API.STREAM.MSG.GET."))]
    assert "$JS.API.STREAM.INFO.*" in perms.publish  # it binds to the bucket the keeper made


def test_a_service_may_answer_a_request_with_a_whole_stream_and_no_more() -> None:
    from runtime.protocol.envelope import STREAM_MAX_REPLIES, STREAM_MAX_S

    perms = permissions_for(identity(Role.service, "s1", service_id="s1"))
    assert perms.allow_responses is not None
    assert perms.allow_responses.max == STREAM_MAX_REPLIES
    assert STREAM_MAX_S < perms.allow_responses.expires_s < STREAM_MAX_S + 60
    user = server_config([identity(Role.service, "s1", service_id="s1")])["accounts"][
        "default"]["users"][0]
    assert user["permissions"]["allow_responses"] == {
        "max": STREAM_MAX_REPLIES, "expires": f"{perms.allow_responses.expires_s}s"}


def test_the_keeper_creates_the_buckets_of_its_namespaces_services_only() -> None:
    config = server_config([identity(Role.keeper, "keeper", "lab"),
                            identity(Role.service, "s1", "lab", "s1"),
                            identity(Role.service, "cam", "lab", "cam"),
                            identity(Role.service, "s9", "other", "s9")])
    keeper, = (u for u in config["accounts"]["lab"]["users"] if u["nkey"] == "UKEEPER")
    creates = [s for s in keeper["permissions"]["publish"]["allow"]
               if s.startswith("$JS.API.STREAM.CREATE.")]
    assert creates == ["$JS.API.STREAM.CREATE.KV_rungraph_identities",
                       "$JS.API.STREAM.CREATE.KV_svc_cam", "$JS.API.STREAM.CREATE.KV_svc_s1",
                       "$JS.API.STREAM.CREATE.HIST_svc_cam", "$JS.API.STREAM.CREATE.HIST_svc_s1"]
    assert not [s for s in keeper["permissions"]["publish"]["allow"] if "UPDATE.KV_svc" in s]
    assert [s for s in keeper["permissions"]["publish"]["allow"] if "UPDATE.HIST_" in s] == [
        "$JS.API.STREAM.UPDATE.HIST_svc_cam", "$JS.API.STREAM.UPDATE.HIST_svc_s1"]


def test_a_service_identity_without_a_service_id_cannot_be_rendered() -> None:
    with pytest.raises(ValueError, match="no valid service id"):
        permissions_for(identity(Role.service))


def test_the_keeper_writes_the_directory() -> None:
    perms = permissions_for(identity(Role.keeper, "keeper"))
    assert "$KV.rungraph_identities.>" in perms.publish
    assert "$JS.API.STREAM.CREATE.KV_rungraph_identities" in perms.publish


def test_the_store_renders_every_identity(tmp_path: Path) -> None:
    store = AuthStore.open(tmp_path)
    s1 = store.ensure_service("lab", "s1")
    config = json.loads("\n".join(
        line for line in store.config_path.read_text().splitlines() if not line.startswith("#")))
    assert set(config["accounts"]) == {"default", "lab"}
    nkeys = [u["nkey"] for u in config["accounts"]["lab"]["users"]]
    assert s1.public_key in nkeys
    assert store.keeper("lab").public_key in nkeys
