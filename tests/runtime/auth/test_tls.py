"""The local CA and server certificate (runtime.auth.tls): made once, kept private, reused,
re-issued only when they must be; given certificate files checked; the CA a client verifies
with found as credentials are; and the certificates good for a real TLS handshake."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from runtime.auth import tls_certs
from runtime.auth.tls import (
    CA_ENV,
    ServerTLS,
    TLSError,
    certificate_hosts,
    client_context,
    ensure_local_tls,
    find_trust,
    forget_server_tls,
    given_tls,
    local_ca_file,
    record_server_tls,
    server_config_block,
    store_of_seed,
    tls_dir,
)


@pytest.fixture(autouse=True)
def _no_user_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither the user's $RUNGRAPH_TLS_CA nor their default store takes part."""
    monkeypatch.delenv(CA_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# -- the local CA and server certificate ---------------------------------------------------------


def test_first_start_makes_a_ca_and_a_server_certificate_kept_private(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path, ["nats.example.lan", "10.1.2.3"])
    folder = tls_dir(tmp_path)
    assert folder == tmp_path / "auth" / "tls"
    assert mode(folder) == 0o700
    assert mode(folder.parent) == 0o700
    assert mode(folder / "ca-key.pem") == 0o600
    assert mode(folder / "server-key.pem") == 0o600
    assert tls.ca == folder / "ca.pem"
    assert tls.cert == folder / "server.pem"
    assert tls.key == folder / "server-key.pem"

    ca, cert = load(tls.ca), load(tls.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    hosts = certificate_hosts(tls.cert)
    for host in ("127.0.0.1", "::1", "localhost", "nats.example.lan", "10.1.2.3"):
        assert host in hosts
    assert tls.hosts == hosts
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_later_starts_reuse_every_file(tmp_path: Path) -> None:
    first = ensure_local_tls(tmp_path, ["a.lan"])
    files = {p.name: p.read_bytes() for p in tls_dir(tmp_path).glob("*.pem")}
    again = ensure_local_tls(tmp_path, ["a.lan"])
    assert again == first
    assert {p.name: p.read_bytes() for p in tls_dir(tmp_path).glob("*.pem")} == files
    # no host asked for: the certificate keeps the ones it has, nothing is made again
    assert ensure_local_tls(tmp_path).hosts == first.hosts
    assert {p.name: p.read_bytes() for p in tls_dir(tmp_path).glob("*.pem")} == files


def test_a_new_host_reissues_the_server_certificate_only_and_keeps_the_old_hosts(
    tmp_path: Path,
) -> None:
    ensure_local_tls(tmp_path, ["old.lan"])
    folder = tls_dir(tmp_path)
    ca_before, key_before = (folder / "ca.pem").read_bytes(), (folder / "ca-key.pem").read_bytes()
    tls = ensure_local_tls(tmp_path, ["NEW.lan."])
    assert "old.lan" in tls.hosts
    assert "new.lan" in tls.hosts
    assert (folder / "ca.pem").read_bytes() == ca_before  # copies elsewhere stay valid
    assert (folder / "ca-key.pem").read_bytes() == key_before
    load(tls.cert).verify_directly_issued_by(load(tls.ca))


def test_a_damaged_or_foreign_server_certificate_is_made_again(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path)
    tls.cert.write_text("not a certificate")
    again = ensure_local_tls(tmp_path)
    load(again.cert).verify_directly_issued_by(load(again.ca))

    # a server certificate signed by another CA (e.g. the CA files were replaced)
    other = ensure_local_tls(tmp_path / "other")
    tls.cert.write_bytes(other.cert.read_bytes())
    tls.key.write_bytes(other.key.read_bytes())
    fixed = ensure_local_tls(tmp_path)
    load(fixed.cert).verify_directly_issued_by(load(fixed.ca))


def test_a_server_certificate_near_its_end_is_renewed(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path)
    assert tls.ca is not None
    ca_cert = tls_certs.load_cert(tls.ca)
    ca_key = tls_certs.load_key(tls.ca.with_name("ca-key.pem"))
    key = tls_certs.load_key(tls.key)
    assert ca_cert is not None
    assert ca_key is not None
    assert key is not None
    now = datetime.datetime.now(datetime.UTC)
    ending = (
        x509.CertificateBuilder()
        .subject_name(ca_cert.subject).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=800))
        .not_valid_after(now + datetime.timedelta(days=3))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    tls.cert.write_bytes(tls_certs.cert_pem(ending))
    renewed = load(ensure_local_tls(tmp_path).cert)
    assert renewed.not_valid_after_utc > now + datetime.timedelta(days=365)


def test_servers_starting_at_once_make_one_ca(tmp_path: Path) -> None:
    results: list[ServerTLS] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_local_tls(tmp_path)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    ca = tls_dir(tmp_path) / "ca.pem"
    for tls in results:
        load(tls.cert).verify_directly_issued_by(load(ca))


@pytest.mark.parametrize("host", ["", "bad host", "a..b", "x" * 64 + ".lan"])
def test_a_host_that_is_neither_a_name_nor_an_address_is_refused(tmp_path: Path,
                                                                 host: str) -> None:
    with pytest.raises(TLSError):
        ensure_local_tls(tmp_path, [host])


# -- certificate files of one's own ----------------------------------------------------------------


def test_given_certificate_files_are_checked(tmp_path: Path) -> None:
    mine = ensure_local_tls(tmp_path / "mine", ["given.lan"])
    tls = given_tls(mine.cert, mine.key, mine.ca)
    assert tls.cert == mine.cert.resolve()
    assert tls.ca == mine.ca.resolve()
    assert "given.lan" in tls.hosts
    assert given_tls(mine.cert, mine.key).ca is None  # a public CA's: the system's trust store

    other = ensure_local_tls(tmp_path / "other")
    with pytest.raises(TLSError, match="is not the key of the certificate"):
        given_tls(mine.cert, other.key)
    with pytest.raises(TLSError, match="is not signed by"):
        given_tls(other.cert, other.key, mine.ca)
    with pytest.raises(TLSError, match="cannot read the certificate"):
        given_tls(tmp_path / "missing.pem", mine.key)
    with pytest.raises(TLSError, match="holds no PEM certificate"):
        given_tls(mine.key, mine.key)
    with pytest.raises(TLSError, match="holds no unencrypted PEM private key"):
        given_tls(mine.cert, mine.cert)
    with pytest.raises(TLSError, match="CA file"):
        given_tls(mine.cert, mine.key, tmp_path / "missing-ca.pem")


def test_an_expired_given_certificate_is_refused(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "old")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=10))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "c.pem").write_bytes(tls_certs.cert_pem(cert))
    (tmp_path / "k.pem").write_bytes(tls_certs.key_pem(key))
    with pytest.raises(TLSError, match="expired"):
        given_tls(tmp_path / "c.pem", tmp_path / "k.pem")


# -- what the store's server runs with -------------------------------------------------------------


def test_the_record_says_which_ca_local_clients_verify_with(tmp_path: Path) -> None:
    assert local_ca_file(tmp_path) is None
    assert server_config_block(tmp_path) == ""
    tls = ensure_local_tls(tmp_path)
    assert local_ca_file(tmp_path) == tls.ca  # made, no server recorded yet
    record_server_tls(tmp_path, tls)
    assert mode(tls_dir(tmp_path) / "server.json") == 0o600
    assert local_ca_file(tmp_path) == tls.ca
    block = server_config_block(tmp_path)
    assert block.lstrip().startswith("#")
    body = json.loads(block.split("tls ", 1)[1])
    assert body["cert_file"] == str(tls.cert)
    assert body["key_file"] == str(tls.key)

    given = given_tls(tls.cert, tls.key)  # e.g. a public CA's certificate
    record_server_tls(tmp_path, given)
    assert local_ca_file(tmp_path) is None
    forget_server_tls(tmp_path)
    assert server_config_block(tmp_path) == ""
    assert local_ca_file(tmp_path) == tls.ca


# -- the client side -------------------------------------------------------------------------------


def test_a_client_context_verifies_certificate_and_host_name(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path)
    context = client_context(tls.ca)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    with pytest.raises(TLSError, match="does not exist"):
        client_context(tmp_path / "nope.pem")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(TLSError, match="junk.pem"):
        client_context(tmp_path / "junk.pem")


def test_the_store_of_a_seed_file(tmp_path: Path) -> None:
    assert store_of_seed(tmp_path / "auth" / "keys" / "default" / "admin.nk") == tmp_path
    assert store_of_seed(tmp_path / "bob.nk") is None
    assert store_of_seed("bob.nk") is None


def test_the_ca_is_found_as_credentials_are(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    local = ensure_local_tls(store)
    seed = store / "auth" / "keys" / "default" / "admin.nk"
    given = ensure_local_tls(tmp_path / "given").ca
    assert given is not None

    # nothing: nats-py's own default, TLS only if the server asks; a tls:// URL insists
    plain = find_trust(["nats://h:4222"])
    assert plain.context is None
    assert not plain.required
    assert plain.ca is None
    secure = find_trust(["tls://h:4222"])
    assert secure.context is not None
    assert secure.required
    assert "tls://" in secure.why

    # the store the seed comes from: its CA, used when the server asks for TLS
    found = find_trust(["nats://h:4222"], None, seed)
    assert found.ca == local.ca
    assert not found.required
    assert found.context is not None
    assert find_trust(["nats://a:1", "tls://b:2"], None, seed).required

    # else the user's default store
    default_store = tmp_path / "xdg" / "rungraph" / "nats"
    ensure_local_tls(default_store)
    assert find_trust(["nats://h:4222"]).ca == default_store / "auth" / "tls" / "ca.pem"

    # $RUNGRAPH_TLS_CA comes before the store, --tls-ca before both; either requires TLS
    monkeypatch.setenv(CA_ENV, str(local.ca))
    env = find_trust(["nats://h:4222"], None, seed)
    assert env.ca == local.ca
    assert env.required
    assert CA_ENV in env.source
    flag = find_trust(["nats://h:4222"], given, seed)
    assert flag.ca == given
    assert flag.required
    own = ssl.create_default_context()
    assert find_trust(["nats://h"], own).context is own
    monkeypatch.setenv(CA_ENV, str(tmp_path / "missing.pem"))
    with pytest.raises(TLSError):
        find_trust(["nats://h:4222"])


# -- a real handshake (OpenSSL on both ends, no NATS) ----------------------------------------------


async def handshake(tls: ServerTLS, context: ssl.SSLContext, host: str) -> str:
    """Connect to a TLS echo server holding ``tls``'s certificate as ``host``; its answer."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tls.cert, tls.key)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readline())
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname=host
        )
        writer.write(b"hello\n")
        answer = (await reader.readline()).decode().strip()
        writer.close()
        return answer
    finally:
        server.close()


async def test_the_certificates_pass_a_real_handshake_and_nothing_else_does(
    tmp_path: Path,
) -> None:
    tls = ensure_local_tls(tmp_path, ["nats.example.lan"])
    assert tls.ca is not None
    for host in ("127.0.0.1", "localhost", "nats.example.lan"):
        assert await handshake(tls, client_context(tls.ca), host) == "hello"
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await handshake(tls, client_context(tls.ca), "elsewhere.lan")
    other = ensure_local_tls(tmp_path / "other").ca
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(tls, client_context(other), "localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(tls, client_context(), "localhost")  # the system's trust store
