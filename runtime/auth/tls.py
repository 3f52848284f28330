"""TLS for the local nats-server: a certificate authority made on this machine, the server
certificate it signs, and the client side that verifies it.

``rungraph nats --tls`` calls :func:`ensure_local_tls` on every start. On the first it makes, in
``<store>/auth/tls/`` (folder 0700, keys 0600):

- ``ca.pem`` / ``ca-key.pem``: the local CA (EC P-256, ten years). ``ca.pem`` is the one file
  another machine needs to verify the server (``--tls-ca ca.pem`` or ``RUNGRAPH_TLS_CA``);
  ``ca-key.pem`` never leaves this folder.
- ``server.pem`` / ``server-key.pem``: the server's certificate, signed by the CA, for
  ``127.0.0.1``, ``::1``, ``localhost``, this machine's host name and every ``--tls-host``.

Later starts reuse all four. The server certificate alone is issued again when a new host is
asked for (it then covers the old hosts too, so machines that reach the server by an old name
keep working), when it nears its end (30 days), or when it no longer matches the CA or its key;
the CA stays, so copies of ``ca.pem`` elsewhere stay valid. The certificates are made with the
``cryptography`` package (``runtime.auth.tls_certs``), imported only then.

With certificate files of one's own (``--tls-cert``/``--tls-key``), :func:`given_tls` checks that
they are readable and belong together; nothing is generated. The TLS files a server started with
are recorded in ``server.json`` beside them, so clients on this machine verify with the right CA
(:func:`local_ca_file`): the generated one, the one given with the certificate, or none (the
system's trust store, for a certificate from a public CA).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import socket
import ssl
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runtime.auth.paths import (
    AUTH_DIR,
    DIR_MODE,
    KEYS_DIR,
    default_store_dir,
    file_lock,
    write_atomic,
)

__all__ = [
    "CA_ENV",
    "LOCAL_HOSTS",
    "ServerTLS",
    "TLSError",
    "TLSTrust",
    "certificate_hosts",
    "client_context",
    "ensure_local_tls",
    "find_trust",
    "forget_server_tls",
    "given_tls",
    "local_ca_file",
    "probe_context",
    "record_server_tls",
    "server_config_block",
    "store_of_seed",
    "tls_dir",
]

log = logging.getLogger(__name__)

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"
RECORD = "server.json"
"""The TLS files of the server last started with this store (what local clients verify with)."""
LOCK = ".lock"
KEY_MODE = 0o600
CERT_MODE = 0o644
CA_ENV = "RUNGRAPH_TLS_CA"
"""The environment variable naming the CA file clients verify the server with."""

LOCAL_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")


class TLSError(ValueError):
    """TLS files that are missing, unreadable, or do not belong together."""


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """What nats-server is started with (the ``tls`` block of ``server.conf`` with auth, else
    ``--tls --tlscert CERT --tlskey KEY``), and the CA clients verify its certificate with
    (None: the system's trust store)."""

    cert: Path
    key: Path
    ca: Path | None
    hosts: tuple[str, ...] = field(default=())
    """The names and addresses the certificate is valid for."""

    def to_json(self) -> dict[str, object]:
        return {
            "cert": str(self.cert),
            "key": str(self.key),
            "ca": str(self.ca) if self.ca is not None else None,
            "hosts": list(self.hosts),
        }


def tls_dir(store_dir: str | os.PathLike[str]) -> Path:
    """``<store>/auth/tls``: where the local CA and server certificate are kept."""
    return Path(store_dir) / AUTH_DIR / TLS_DIR


# -- files ---------------------------------------------------------------------------------------


def _private_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold the TLS folder's lock: two servers starting at once make one CA, not two."""
    with file_lock(directory / LOCK, KEY_MODE):
        yield


def _normal_host(host: str) -> str:
    host = host.strip().strip("[]")
    if not host:
        raise TLSError("an empty --tls-host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.lower().rstrip(".")
    labels = name.split(".")
    if not all(label and len(label) <= 63 and all(c.isalnum() or c in "-_*" for c in label)
               for label in labels):
        raise TLSError(f"{host!r} is neither an IP address nor a host name")
    return name


def _wanted_hosts(hosts: Iterable[str]) -> tuple[str, ...]:
    wanted = [*LOCAL_HOSTS]
    machine = socket.gethostname()
    if machine:
        with contextlib.suppress(TLSError):
            wanted.append(_normal_host(machine))
    wanted += [_normal_host(h) for h in hosts]
    return tuple(dict.fromkeys(wanted))


def ensure_local_tls(
    store_dir: str | os.PathLike[str], hosts: Iterable[str] = ()
) -> ServerTLS:
    """The local CA and a server certificate covering ``hosts`` (plus the loopback names and
    this machine's host name), made on first use in ``<store>/auth/tls`` and reused after."""
    from runtime.auth import tls_certs

    directory = tls_dir(store_dir)
    wanted = _wanted_hosts(hosts)
    _private_dir(directory.parent)
    _private_dir(directory)
    ca_path, ca_key_path = directory / CA_CERT, directory / CA_KEY
    cert_path, key_path = directory / SERVER_CERT, directory / SERVER_KEY
    with _locked(directory):
        ca, ca_key = tls_certs.load_cert(ca_path), tls_certs.load_key(ca_key_path)
        if ca is None or ca_key is None or not tls_certs.usable(ca, ca_key):
            if ca_path.exists() or ca_key_path.exists():
                log.warning("the local CA in %s is unusable or expiring; making a new one "
                            "(copies of the old ca.pem elsewhere must be replaced)", directory)
            ca, ca_key = tls_certs.new_ca()
            write_atomic(ca_key_path, tls_certs.key_pem(ca_key), KEY_MODE)
            write_atomic(ca_path, tls_certs.cert_pem(ca), CERT_MODE)
            log.info("made a local CA in %s", directory)
        cert, key = tls_certs.load_cert(cert_path), tls_certs.load_key(key_path)
        reuse = cert is not None and key is not None and tls_certs.usable(cert, key, ca)
        have = tls_certs.hosts_of(cert) if cert is not None and reuse else ()
        if reuse and set(wanted) <= set(have):
            return ServerTLS(cert_path, key_path, ca_path, have)
        covered = tuple(dict.fromkeys([*wanted, *have]))
        if key is None or not reuse:
            key = tls_certs.new_key()
            write_atomic(key_path, tls_certs.key_pem(key), KEY_MODE)
        cert = tls_certs.new_server_cert(ca, ca_key, key, covered)
        write_atomic(cert_path, tls_certs.cert_pem(cert), CERT_MODE)
        log.info("issued the server certificate in %s for %s", directory, ", ".join(covered))
        return ServerTLS(cert_path, key_path, ca_path, covered)


def given_tls(
    cert: str | os.PathLike[str], key: str | os.PathLike[str],
    ca: str | os.PathLike[str] | None = None,
) -> ServerTLS:
    """Certificate files of one's own, checked: readable PEM, the key is the certificate's,
    not expired, and (with ``ca``, a CA file clients on this machine then verify with) signed
    by that CA. Raises ``TLSError`` saying what is wrong."""
    from runtime.auth import tls_certs

    cert_path, key_path = Path(cert).resolve(), Path(key).resolve()
    ca_path = Path(ca).resolve() if ca is not None else None
    if ca_path is not None:
        client_context(ca_path)  # a readable CA file, or TLSError
    try:
        hosts = tls_certs.check_given(cert_path, key_path, ca_path)
    except ValueError as exc:
        raise TLSError(str(exc)) from None
    return ServerTLS(cert_path, key_path, ca_path, hosts)


def certificate_hosts(cert_file: str | os.PathLike[str]) -> tuple[str, ...]:
    """The host names and IP addresses the PEM certificate in ``cert_file`` is valid for."""
    from runtime.auth import tls_certs

    cert = tls_certs.load_cert(Path(cert_file))
    if cert is None:
        raise TLSError(f"{os.fspath(cert_file)} holds no readable PEM certificate")
    return tls_certs.hosts_of(cert)


# -- what a server started with ------------------------------------------------------------------


def record_server_tls(store_dir: str | os.PathLike[str], tls: ServerTLS) -> None:
    """Note in ``<store>/auth/tls/server.json`` which files the store's server runs with, so
    that clients on this machine verify it with the right CA."""
    directory = tls_dir(store_dir)
    _private_dir(directory.parent)
    _private_dir(directory)
    record = json.dumps(tls.to_json(), indent=2) + "\n"
    write_atomic(directory / RECORD, record.encode(), KEY_MODE)


def forget_server_tls(store_dir: str | os.PathLike[str]) -> None:
    """The store's server starts without TLS: remove the record of an earlier TLS start."""
    (tls_dir(store_dir) / RECORD).unlink(missing_ok=True)


def _read_record(store_dir: str | os.PathLike[str]) -> dict[str, object] | None:
    try:
        recorded = json.loads((tls_dir(store_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


HANDSHAKE_TIMEOUT_S = 2.0
"""How long nats-server waits for a client's TLS handshake (its default, 0.5 s, is short for a
remote machine)."""


def server_config_block(store_dir: str | os.PathLike[str]) -> str:
    """The ``tls`` block of nats-server's configuration (``server.conf``) for the TLS files the
    store's server was started with; "" when it was started without TLS.

    With a configuration file TLS must be in the file, not only on the command line: on a
    reload (SIGHUP, after every issue and revoke) nats-server re-reads the file alone and
    refuses a configuration that would turn TLS off ("config reload not supported for TLS")."""
    recorded = _read_record(store_dir)
    if recorded is None:
        return ""
    cert, key = recorded.get("cert"), recorded.get("key")
    if not isinstance(cert, str) or not isinstance(key, str):
        return ""
    block = {"cert_file": cert, "key_file": key, "timeout": HANDSHAKE_TIMEOUT_S}
    return "\n# TLS, as the server was started (rungraph nats --tls)\ntls " + json.dumps(
        block, indent=2) + "\n"


def local_ca_file(store_dir: str | os.PathLike[str]) -> Path | None:
    """The CA file clients on this machine verify the store's TLS server with: the one recorded
    when it started (None when it runs with a certificate of a public CA), else the local CA,
    else None."""
    recorded = _read_record(store_dir)
    if recorded is not None:
        ca = recorded.get("ca")
        return Path(ca) if isinstance(ca, str) and ca else None
    ca_path = tls_dir(store_dir) / CA_CERT
    return ca_path if ca_path.is_file() else None


# -- the client side -----------------------------------------------------------------------------


def client_context(ca_file: str | os.PathLike[str] | None = None) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` that verifies the server's certificate and host name against
    ``ca_file`` (None: the system's trust store); TLS 1.2 at least."""
    try:
        context = ssl.create_default_context(
            cafile=os.fspath(ca_file) if ca_file is not None else None
        )
    except FileNotFoundError:
        raise TLSError(f"the CA file {os.fspath(ca_file or '')} does not exist") from None
    except OSError as exc:
        raise TLSError(f"cannot read the CA file {os.fspath(ca_file or '')}: {exc}") from None
    except ssl.SSLError as exc:
        raise TLSError(f"{os.fspath(ca_file or '')} holds no PEM CA certificate "
                       f"({exc.reason or exc})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def probe_context(store_dir: str | os.PathLike[str]) -> ssl.SSLContext:
    """The context this machine's own probes of the store's server use: the chain is verified
    against the store's CA (:func:`local_ca_file`), the host name is not (a probe reaches the
    server at whatever local address its ports file names)."""
    context = client_context(local_ca_file(store_dir))
    context.check_hostname = False
    return context


# -- which CA a connection verifies the server with ---------------------------------------------


@dataclass(frozen=True, slots=True)
class TLSTrust:
    """How one connection verifies a server's certificate, as :func:`find_trust` chose it."""

    context: ssl.SSLContext | None
    """What TLS is done with; None: nats-py's default (the system's trust store)."""
    required: bool
    """A server that does not offer TLS is refused (asked for: a ``tls://`` URL, a CA file)."""
    source: str
    """What verifies the certificate, for messages (``the CA file ca.pem``...)."""
    why: str = ""
    """Why TLS is required, for messages (``the tls:// URL``...)."""
    ca: Path | None = None
    """The CA file verified with, if one."""


def store_of_seed(seed_file: str | os.PathLike[str]) -> Path | None:
    """The store folder a seed file was issued from (``<store>/auth/keys/<namespace>/x.nk``),
    or None for a seed file kept elsewhere."""
    path = Path(seed_file).absolute()
    if len(path.parents) > 3 and path.parents[1].name == KEYS_DIR and (
        path.parents[2].name == AUTH_DIR
    ):
        return path.parents[3]
    return None


def find_trust(
    urls: Iterable[str],
    tls_ca: str | os.PathLike[str] | ssl.SSLContext | None = None,
    seed_file: str | os.PathLike[str] | None = None,
) -> TLSTrust:
    """The CA a connection to ``urls`` verifies the server with, found as credentials are:

    1. ``tls_ca`` (``--tls-ca FILE``, or an ``ssl.SSLContext`` of one's own), then
    2. ``$RUNGRAPH_TLS_CA``: with either, the server must offer TLS (whatever the URL says), and
       only that CA is trusted;
    3. the local store's CA (:func:`local_ca_file` of the store ``seed_file`` was issued from,
       else of the user's default store), trusted beside the system's trust store, and used
       when the server requires TLS (or the URL is ``tls://``);
    4. else the system's trust store.

    A ``tls://`` URL always requires TLS. Raises ``TLSError`` for a CA file that is not one.
    """
    secure_url = any(url.strip().lower().startswith("tls://") for url in urls)
    if isinstance(tls_ca, ssl.SSLContext):
        return TLSTrust(tls_ca, True, "the SSL context given", "the SSL context given")
    if tls_ca is not None:
        ca = Path(tls_ca)
        return TLSTrust(client_context(ca), True, f"the CA file {ca}", f"the CA file {ca}", ca)
    env = os.environ.get(CA_ENV)
    if env:
        ca = Path(env)
        return TLSTrust(client_context(ca), True, f"the CA file {ca} (${CA_ENV})",
                        f"${CA_ENV}", ca)
    why = "the tls:// URL" if secure_url else ""
    store = store_of_seed(seed_file) if seed_file is not None else None
    local = local_ca_file(store if store is not None else default_store_dir())
    if local is not None:
        try:
            context = client_context()
            context.load_verify_locations(cafile=os.fspath(local))
        except (OSError, ssl.SSLError, TLSError) as exc:
            log.warning("the local CA %s is unusable (%s); verifying with the system's trust "
                        "store only", local, exc)
        else:
            return TLSTrust(context, secure_url,
                            f"this machine's local CA {local} and the system's trust store",
                            why, local)
    context_or_none = client_context() if secure_url else None
    return TLSTrust(context_or_none, secure_url, "the system's trust store", why)
