"""``rungraph creds``, ``rungraph revoke``, ``rungraph identities``: issue credentials for another
person or machine, revoke one identity without touching the others, list who may connect.

They work on the auth store of a store folder (``--store``, default the user's local server
folder). A running server of that store reloads at once and its identity directory is kept in
step; with no server running, the changes take effect when ``rungraph nats`` next starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from runtime.auth import AuthError, AuthStore, Identity, Role
from runtime.auth.keys import write_private
from runtime.client.directory import issue_identity, revoke_identity
from runtime.protocol.naming import inbox_prefix
from runtime.service.main import process_namespace
from runtime.transport.base import TransportError
from runtime.transport.urls import nats_urls_arg

EXIT_OK, EXIT_REPLY_ERROR, EXIT_INVALID = 0, 1, 2
ISSUABLE = [r.value for r in Role if r is not Role.keeper]


def add_commands(sub: Any) -> None:
    def store_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", type=Path, default=None,
                       help="the server's store folder (default: the local one)")
        p.add_argument("--nats", default=None, type=nats_urls_arg,
                       help="the server (or a cluster's URLs, comma-separated) to update the "
                            "identity directory on (default: the one running with this store, "
                            "if any)")

    p = sub.add_parser("creds", help="issue credentials (an nkey seed file) for a role")
    p.add_argument("role", choices=ISSUABLE)
    p.add_argument("--service-id", default=None, help="the service id (role 'service' only)")
    p.add_argument("--namespace", default=process_namespace(),
                   help="namespace (NATS account) (default: $RUNGRAPH_NAMESPACE or 'default')")
    p.add_argument("--name", default=None,
                   help="who holds it, e.g. alice or build-server (default: the service id for "
                        "a service, else the role); revoke it by this name")
    p.add_argument("--out", type=Path, required=True, help="where to write the seed file (0600)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    store_opts(p)
    p.set_defaults(func=cmd_creds)

    p = sub.add_parser("revoke", help="revoke one identity; its connections are closed")
    p.add_argument("name")
    p.add_argument("--namespace", default=process_namespace(),
                   help="namespace (NATS account) (default: $RUNGRAPH_NAMESPACE or 'default')")
    store_opts(p)
    p.set_defaults(func=cmd_revoke)

    p = sub.add_parser("identities", help="list the identities of the auth store")
    p.add_argument("--namespace", default=None, help="only this namespace")
    p.add_argument("--store", type=Path, default=None,
                   help="the server's store folder (default: the local one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identities)


def _existing_store(store_dir: Path | None) -> AuthStore | None:
    if not AuthStore.exists(store_dir):
        where = store_dir or "the local store folder"
        print(f"error: no auth store in {where} (`rungraph nats` creates one)", file=sys.stderr)
        return None
    return AuthStore.open(store_dir)


def cmd_creds(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not args.force:
        print(f"error: {out} exists; give --force to overwrite it", file=sys.stderr)
        return EXIT_INVALID
    try:
        store = AuthStore.open(args.store)
        identity, published = asyncio.run(issue_identity(
            store, args.role, args.name, args.namespace, args.service_id, url=args.nats))
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except TransportError as exc:
        print(f"error: issued, but the identity directory was not updated: {exc}",
              file=sys.stderr)
        return EXIT_REPLY_ERROR
    seed = store.seed_path(identity).read_text(encoding="ascii")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_private(out, seed)
    print(f"issued {identity.actor} in namespace {identity.namespace} "
          f"(public key {identity.public_key})")
    print(f"seed written to {out} (mode 0600); keep it secret")
    print(f"  Python: nats.connect(URL, nkeys_seed={str(out)!r}, "
          f"inbox_prefix={inbox_prefix(identity.public_key)!r})")
    print(f"  rungraph: --creds {out}  (or RUNGRAPH_CREDS={out})")
    print(f"  nats CLI: nats --nkey {out} --inbox-prefix {inbox_prefix(identity.public_key)} ...")
    if not published:
        print("no server of this store is running: the identity is known to it from its next "
              "start (`rungraph nats`)")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    if store is None:
        return EXIT_INVALID
    try:
        identity, published = asyncio.run(
            revoke_identity(store, args.name, args.namespace, url=args.nats))
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except TransportError as exc:
        print(f"error: revoked, but the identity directory was not updated: {exc}",
              file=sys.stderr)
        return EXIT_REPLY_ERROR
    print(f"revoked {identity.actor} in namespace {identity.namespace} "
          f"(public key {identity.public_key})")
    if published:
        print("the running server has closed its connections")
    return EXIT_OK


def _row(identity: Identity) -> str:
    return (f"{identity.namespace:<12} {identity.name:<20} {identity.role.value:<9} "
            f"{identity.service_id or '-':<16} {identity.issued_at:<21} {identity.public_key}")


def cmd_identities(args: argparse.Namespace) -> int:
    store = _existing_store(args.store)
    if store is None:
        return EXIT_INVALID
    found = store.identities(args.namespace)
    if args.json:
        print(json.dumps([i.to_json() for i in found], indent=2))
        return EXIT_OK
    print(f"{'NAMESPACE':<12} {'NAME':<20} {'ROLE':<9} {'SERVICE':<16} {'ISSUED':<21} "
          "PUBLIC KEY")
    for identity in found:
        print(_row(identity))
    print(f"(seeds in {store.keys_dir}{os.sep}<namespace>)")
    return EXIT_OK
