"""A local certificate authority and one server certificate for both demo origins.

Certificates pass `openssl verify -x509_strict` (Python 3.13's VERIFY_X509_STRICT):
key identifiers on both, basicConstraints critical on the CA.
"""

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a leaf certificate
DEFAULT_NAMES = ("idp.local", "mysrv.local", "localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class CertPaths:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> "CertPaths":
        return cls(
            ca_cert=directory / "ca.pem",
            ca_key=directory / "ca-key.pem",
            server_cert=directory / "server.pem",
            server_key=directory / "server-key.pem",
        )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    os.chmod(path, 0o600)


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """The CA signs certificates and CRLs only; the server key signs TLS handshakes only."""
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(now: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"idp-demo local CA {now:%Y-%m-%d %H:%M}")]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server_cert(
    names: tuple[str, ...],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_san_entry(n) for n in names]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _server_cert_covers(path: Path, names: tuple[str, ...], now: datetime.datetime) -> bool:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    fresh = cert.not_valid_after_utc - now > datetime.timedelta(days=30)
    return fresh and {str(_san_value(n)) for n in names} <= present


def _san_value(name: str) -> object:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return name


def ensure_certificates(
    directory: Path, names: tuple[str, ...] = DEFAULT_NAMES, now: datetime.datetime | None = None
) -> tuple[CertPaths, list[str]]:
    """Create what is missing: the CA once, the server certificate when absent or stale.

    Returns the paths and a list of what was created, for the caller to report. A server
    certificate is re-issued (by the same CA) when it lacks one of `names` or nears expiry,
    so a browser that already trusts the CA keeps trusting the demo.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    paths = CertPaths.in_directory(directory)
    directory.mkdir(parents=True, exist_ok=True)
    created = []
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        ca_cert, ca_key = _make_ca(now)
        _write_key(paths.ca_key, ca_key)
        paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        paths.server_cert.unlink(missing_ok=True)  # signed by a CA that no longer exists
        created.append("certificate authority")
    if not (
        paths.server_cert.exists()
        and paths.server_key.exists()
        and _server_cert_covers(paths.server_cert, names, now)
    ):
        ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
        server_cert, server_key = _make_server_cert(names, ca_cert, ca_key, now)
        _write_key(paths.server_key, server_key)
        paths.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
        created.append("server certificate")
    return paths, created
