import datetime
import shutil
import ssl
import subprocess

import pytest
from cryptography import x509

from apps.demo import certs


def test_certificates_are_created_once(tmp_path):
    paths, created = certs.ensure_certificates(tmp_path)
    assert created == ["certificate authority", "server certificate"]
    before = paths.ca_cert.read_bytes(), paths.server_cert.read_bytes()
    _, created_again = certs.ensure_certificates(tmp_path)
    assert created_again == []
    assert (paths.ca_cert.read_bytes(), paths.server_cert.read_bytes()) == before


def test_server_certificate_names_both_origins_and_loopback(tmp_path):
    paths, _ = certs.ensure_certificates(tmp_path)
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(san.get_values_for_type(x509.DNSName))
    addresses = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    assert {"idp.local", "mysrv.local", "localhost"} <= names
    assert {"127.0.0.1", "::1"} <= addresses


def test_private_keys_are_readable_by_the_owner_only(tmp_path):
    paths, _ = certs.ensure_certificates(tmp_path)
    assert paths.ca_key.stat().st_mode & 0o077 == 0
    assert paths.server_key.stat().st_mode & 0o077 == 0


def test_server_certificate_is_reissued_by_the_same_ca_when_a_name_is_missing(tmp_path):
    paths, _ = certs.ensure_certificates(tmp_path, ("idp.local",))
    ca_before = paths.ca_cert.read_bytes()
    _, created = certs.ensure_certificates(tmp_path, ("idp.local", "idp.example.test"))
    assert created == ["server certificate"]
    assert paths.ca_cert.read_bytes() == ca_before


def test_server_certificate_is_reissued_when_close_to_expiry(tmp_path):
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=certs.SERVER_DAYS - 5)
    certs.ensure_certificates(tmp_path, now=long_ago)
    _, created = certs.ensure_certificates(tmp_path)
    assert created == ["server certificate"]


def test_python_verifies_the_chain_strictly(tmp_path):
    paths, _ = certs.ensure_certificates(tmp_path)
    context = ssl.create_default_context(cafile=paths.ca_cert)
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(paths.server_cert, paths.server_key)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = context.wrap_bio(incoming, outgoing, server_hostname="idp.local")
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (client, srv):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(outgoing.read())
        incoming.write(s_out.read())
    client.do_handshake()  # raises SSLCertVerificationError if the chain is rejected


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl not installed")
def test_openssl_verifies_the_chain_with_x509_strict(tmp_path):
    paths, _ = certs.ensure_certificates(tmp_path)
    result = subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", paths.ca_cert, paths.server_cert],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
