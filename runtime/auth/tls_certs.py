"""The certificates of ``runtime.auth.tls``, made and checked with the ``cryptography`` package:
a local CA (EC P-256, ten years, may sign server certificates only), the server certificates
it signs (EC P-256, 825 days, ``serverAuth``, the host names and IP addresses as subject
alternative names), and the checks that decide whether existing files can be reused.

Imported only when certificates are made or checked, so that connecting stays free of it.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_BEFORE = datetime.timedelta(days=30)
"""A certificate this close to its end is made again on the next start."""
_BACKDATE = datetime.timedelta(minutes=5)  # a little slack for clocks that differ
_ORG = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rungraph")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    """The EC private key in ``path``; None when missing, unreadable or of another kind."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def load_cert(path: Path) -> x509.Certificate | None:
    """The (first) certificate in ``path``; None when missing or unreadable."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _spki(public: PublicKeyTypes) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def usable(
    cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, ca: x509.Certificate | None = None
) -> bool:
    """Whether ``cert`` goes with ``key``, is not near its end, and (given ``ca``) is signed
    by it: what decides reusing a certificate made on an earlier start."""
    return (
        _spki(cert.public_key()) == _spki(key.public_key())
        and cert.not_valid_after_utc - RENEW_BEFORE > _now()
        and (ca is None or _signed_by(cert, ca))
    )


def hosts_of(cert: x509.Certificate) -> tuple[str, ...]:
    """The IP addresses and host names of a certificate's subject alternative names, in order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = []
    for entry in san:
        if isinstance(entry, x509.IPAddress):
            names.append(str(entry.value))
        elif isinstance(entry, x509.DNSName):
            names.append(entry.value.lower())
    return tuple(names)


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not sign_certs, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=sign_certs,
        crl_sign=sign_certs, encipher_only=False, decipher_only=False,
    )


def new_ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new CA: its self-signed certificate and its key."""
    key = new_key()
    common_name = f"rungraph local CA ({socket.gethostname()})"
    name = x509.Name([_ORG, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def new_server_cert(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey,
    hosts: tuple[str, ...],
) -> x509.Certificate:
    """A server certificate for ``key``, valid for ``hosts``, signed by the CA."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            _ORG, x509.NameAttribute(NameOID.COMMON_NAME, f"rungraph nats-server ({hosts[0]})"),
        ]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def check_given(cert_path: Path, key_path: Path, ca_path: Path | None) -> tuple[str, ...]:
    """Check certificate files of one's own; their hosts. Raises ValueError saying what is
    wrong: unreadable, not PEM, a key that is not the certificate's, expired, or (given the CA
    that issued it) not signed by that CA."""
    try:
        leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read the certificate {cert_path}: {exc.strerror}") from None
    except ValueError:
        raise ValueError(f"{cert_path} holds no PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise ValueError(f"cannot read the key {key_path}: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise ValueError(f"{key_path} holds no unencrypted PEM private key") from None
    if _spki(leaf.public_key()) != _spki(private.public_key()):
        raise ValueError(f"the key {key_path} is not the key of the certificate {cert_path}")
    if leaf.not_valid_after_utc <= _now():
        raise ValueError(f"the certificate {cert_path} expired on "
                         f"{leaf.not_valid_after_utc:%Y-%m-%d}")
    if ca_path is not None:
        issuer = load_cert(ca_path)
        if issuer is not None and issuer.subject == leaf.issuer and not _signed_by(leaf, issuer):
            raise ValueError(f"the certificate {cert_path} is not signed by {ca_path}")
    return hosts_of(leaf)
