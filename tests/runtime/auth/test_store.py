"""The auth store on disk: first keys on first start, reuse afterwards, private modes, issue and
revoke, and the rules a name, a role and a namespace must follow."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from runtime.auth import AuthError, AuthStore, Role, load_seed
from runtime.auth.paths import default_store_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> AuthStore:
    return AuthStore.open(tmp_path / "nats")


def test_exists_creates_nothing(tmp_path: Path) -> None:
    assert not AuthStore.exists(tmp_path / "nats")
    assert not (tmp_path / "nats").exists()


def test_open_creates_the_store_with_the_default_namespace_keeper_and_admin(
    store: AuthStore, tmp_path: Path
) -> None:
    assert AuthStore.exists(tmp_path / "nats")
    assert store.dir == tmp_path / "nats" / "auth"
    assert [i.actor for i in store.identities()] == ["admin:admin", "keeper:keeper"]
    assert store.config_path.is_file()


def test_open_defaults_to_the_local_server_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert AuthStore.open().dir == default_store_dir() / "auth"
    assert AuthStore.exists()


def test_folders_are_0700_and_files_0600(store: AuthStore) -> None:
    admin = store.ensure_admin()
    assert mode(store.dir) == 0o700
    assert mode(store.keys_dir) == 0o700
    assert mode(store.keys_dir / "default") == 0o700
    for path in (store.identities_path, store.config_path, store.seed_path(admin)):
        assert mode(path) == 0o600, path


def test_modes_hold_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = AuthStore.open(tmp_path / "nats")
    finally:
        os.umask(old)
    assert mode(store.dir) == 0o700
    assert mode(store.seed_path(store.ensure_admin())) == 0o600


def test_a_store_left_open_to_others_is_closed_again_on_open(tmp_path: Path) -> None:
    AuthStore.open(tmp_path / "nats")
    os.chmod(tmp_path / "nats" / "auth", 0o755)
    store = AuthStore.open(tmp_path / "nats")
    assert mode(store.dir) == 0o700


def test_a_later_open_reuses_the_keys(tmp_path: Path) -> None:
    first = AuthStore.open(tmp_path / "nats")
    admin = first.ensure_admin()
    seed = first.seed_path(admin).read_text()
    second = AuthStore.open(tmp_path / "nats")
    assert second.ensure_admin() == admin
    assert second.seed_path(admin).read_text() == seed
    assert second.keeper() == first.keeper()


def test_seed_files_hold_one_user_seed_whose_public_key_is_the_identity(
    store: AuthStore,
) -> None:
    viewer = store.issue(Role.viewer, "alice")
    text = store.seed_path(viewer).read_text()
    assert text.startswith("SU")
    assert text.count("\n") == 1
    assert load_seed(store.seed_path(viewer)) == viewer.public_key
    assert viewer.public_key.startswith("U")


def test_identities_json_and_server_conf_hold_public_facts_only(store: AuthStore) -> None:
    service = store.ensure_service("default", "cam1")
    text = store.identities_path.read_text()
    config = store.config_path.read_text()
    record = next(r for r in json.loads(text)["identities"] if r["name"] == "cam1")
    assert record == {"name": "cam1", "role": "service", "namespace": "default",
                      "serviceId": "cam1", "publicKey": service.public_key,
                      "issuedAt": service.issued_at}
    for identity in store.identities():
        seed = store.seed_path(identity).read_text().strip()
        assert seed not in text
        assert seed not in config


def test_issue_is_idempotent_for_the_same_name_and_namespace(store: AuthStore) -> None:
    first = store.issue(Role.operator, "bob")
    assert store.issue("operator", "bob") == first
    assert len([i for i in store.identities() if i.name == "bob"]) == 1


def test_the_same_name_in_two_namespaces_is_two_identities(store: AuthStore) -> None:
    a = store.issue(Role.viewer, "bob", "a")
    b = store.issue(Role.viewer, "bob", "b")
    assert a.public_key != b.public_key
    assert store.seed_path(a) != store.seed_path(b)
    assert store.namespaces() == ["a", "b", "default"]
    assert {i.actor for i in store.identities("a")} == {"viewer:bob", "keeper:keeper"}


def test_a_name_taken_by_another_role_is_refused(store: AuthStore) -> None:
    store.issue(Role.viewer, "bob")
    with pytest.raises(AuthError, match="already viewer:bob"):
        store.issue(Role.admin, "bob")


def test_default_names(store: AuthStore) -> None:
    assert store.issue(Role.viewer).name == "viewer"
    assert store.issue(Role.service, service_id="s1").name == "s1"
    assert store.ensure_service("default", "s2").actor == "service:s2"
    assert store.ensure_admin("other").actor == "admin:admin"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": Role.keeper, "name": "k"}, "never issued"),
        ({"role": Role.viewer, "name": "keeper"}, "reserved"),
        ({"role": Role.service}, "needs a service id"),
        ({"role": Role.service, "service_id": "a.b"}, "one subject token"),
        ({"role": Role.viewer, "service_id": "s1"}, "has no service id"),
        ({"role": Role.viewer, "name": "../x"}, "identity name"),
        ({"role": Role.viewer, "namespace": "$SYS"}, "namespace"),
        ({"role": Role.viewer, "namespace": "a.b"}, "namespace"),
        ({"role": "root"}, "root"),
    ],
)
def test_issue_refuses(store: AuthStore, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store.issue(**kwargs)  # type: ignore[arg-type]


def test_revoke_removes_the_identity_and_its_seed_and_leaves_the_others(
    store: AuthStore,
) -> None:
    bob = store.issue(Role.viewer, "bob")
    carol = store.issue(Role.operator, "carol")
    assert store.revoke("bob") == bob
    assert store.find("bob") is None
    assert not store.seed_path(bob).exists()
    assert store.find("carol") == carol
    assert bob.public_key not in store.config_path.read_text()
    assert carol.public_key in store.config_path.read_text()


def test_revoke_refuses_unknown_names_and_the_keeper(store: AuthStore) -> None:
    with pytest.raises(AuthError, match="no identity 'nobody'"):
        store.revoke("nobody")
    with pytest.raises(AuthError, match="keeper cannot be revoked"):
        store.revoke("keeper")


def test_a_reissued_name_gets_a_new_key(store: AuthStore) -> None:
    first = store.issue(Role.viewer, "bob")
    store.revoke("bob")
    assert store.issue(Role.viewer, "bob").public_key != first.public_key


def test_an_identity_whose_seed_was_lost_is_issued_a_new_key(store: AuthStore) -> None:
    first = store.issue(Role.viewer, "bob")
    store.seed_path(first).unlink()
    second = store.issue(Role.viewer, "bob")
    assert second.public_key != first.public_key
    assert load_seed(store.seed_path(second)) == second.public_key


def test_the_first_identity_of_a_namespace_brings_its_keeper(store: AuthStore) -> None:
    store.ensure_service("lab", "s1")
    keeper = store.keeper("lab")
    assert keeper.role is Role.keeper
    assert store.seed_path(keeper).is_file()


def test_actor_names_role_and_name(store: AuthStore) -> None:
    assert store.issue(Role.operator, "carol").actor == "operator:carol"


def test_no_server_running_means_nothing_to_reload(store: AuthStore) -> None:
    assert store.server() is None
    assert store.reload_server() is False


def test_a_stale_pid_file_is_not_taken_for_a_server(store: AuthStore) -> None:
    store.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not a nats-server of this store
    assert store.server() is None


def test_issuing_several_services_at_once_reloads_the_server_once(
    store: AuthStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reloads: list[str | None] = []
    monkeypatch.setattr(store, "reload_server",
                        lambda identity=None, **_: reloads.append(identity and identity.name))
    first = store.ensure_services("lab", ["a", "b", "c"])
    assert [(i.name, i.service_id, i.namespace) for i in first] == [
        ("a", "a", "lab"), ("b", "b", "lab"), ("c", "c", "lab")]
    assert len(reloads) == 1
    assert store.ensure_services("lab", ["a", "b", "c"]) == first  # nothing new: no reload
    assert store.ensure_services("lab", ["c", "d"])[0] == first[2]
    assert len(reloads) == 2
    keeper = json.loads("\n".join(line for line in store.config_path.read_text().splitlines()
                                  if not line.startswith("#")))["accounts"]["lab"]["users"]
    creates = {s for u in keeper for s in u["permissions"]["publish"]["allow"]
               if s.startswith("$JS.API.STREAM.CREATE.KV_svc_")}
    assert creates == {f"$JS.API.STREAM.CREATE.KV_svc_{sid}" for sid in "abcd"}


def test_a_bad_request_in_a_batch_issues_none_of_it(store: AuthStore) -> None:
    with pytest.raises(AuthError):
        store.issue_many([(Role.service, "ok", "default", "ok"),
                          (Role.service, "bad id", "default", "bad id")])
    assert store.find("ok") is None
