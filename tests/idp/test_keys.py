import hashlib
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import RequestFactory
from joserfc.jwk import ECKey as JoseECKey
from oidc_provider.models import RSAKey
from oidc_provider.views import JwksView

from apps.idp import keys, services
from apps.idp.models import ECKey


@pytest.fixture
def parse_count(monkeypatch):
    calls = []
    parse = keys._parse

    def counting_parse(pem, alg):
        calls.append(pem)
        return parse(pem, alg)

    monkeypatch.setattr(keys, "_parse", counting_parse)
    return calls


def rsa_jwks() -> list[dict]:
    return [key for key in keys.jwks()["keys"] if key["kty"] == "RSA"]


def test_jwks_is_the_one_the_library_serves_plus_the_es256_key(db):
    services.ensure_signing_keys()
    library = JwksView.as_view()(RequestFactory().get("/oidc/jwks"))
    assert rsa_jwks() == json.loads(library.content)["keys"]
    es256 = [key for key in keys.jwks()["keys"] if key["kty"] == "EC"]
    assert [key["kid"] for key in es256] == [keys.signing_keys("ES256")[0].kid]
    assert es256[0].keys() == {"kty", "crv", "alg", "use", "kid", "x", "y"}
    assert (es256[0]["crv"], es256[0]["alg"], es256[0]["use"]) == ("P-256", "ES256", "sig")


def test_keys_are_parsed_once_while_the_tables_are_unchanged(db, parse_count):
    RSAKey.objects.all().delete()  # migrate's keys may be cached by an earlier test
    ECKey.objects.all().delete()
    services.ensure_signing_keys()
    first = keys.signing_keys()
    assert keys.signing_keys() == first
    assert keys.signing_keys("ES256") == keys.signing_keys("ES256")
    keys.jwks()
    assert len(parse_count) == 2  # one RSA, one EC key


def test_a_key_saved_in_this_process_is_seen_on_the_next_call(db):
    first = services.ensure_signing_keys()["RS256"]
    assert [key.kid for key in keys.signing_keys()] == [first.kid]
    RSAKey.objects.create(key=keys_pem())
    assert len(rsa_jwks()) == 2
    first.delete()
    assert [key.kid for key in keys.signing_keys()] != [first.kid]


def test_a_key_added_on_another_instance_is_seen_within_the_ttl(db, settings, monkeypatch):
    first = services.ensure_signing_keys()["RS256"]
    assert len(rsa_jwks()) == 1
    RSAKey.objects.bulk_create([RSAKey(key=keys_pem())])  # no signal here, as elsewhere
    assert len(rsa_jwks()) == 1  # the table is not read on every call
    later = time.monotonic() + settings.OIDC_SIGNING_KEYS_TTL_SECONDS
    monkeypatch.setattr(keys.time, "monotonic", lambda: later)
    assert len(rsa_jwks()) == 2
    RSAKey.objects.filter(pk=first.pk).delete()  # a queryset delete sends signals too
    assert [key.kid for key in keys.signing_keys()] != [first.kid]


def test_id_tokens_are_signed_with_the_oldest_key(db):
    first = services.ensure_signing_keys()["RS256"]
    RSAKey.objects.create(key=keys_pem())
    token = keys.sign({"sub": "1"}, "RS256")
    assert jwt.get_unverified_header(token)["kid"] == first.kid
    public_key = keys.signing_keys()[0].private_key.public_key()
    assert jwt.decode(token, public_key, algorithms=["RS256"]) == {"sub": "1"}


def test_es256_tokens_are_signed_with_the_oldest_ec_key_and_verify_against_the_jwks(db):
    first = services.ensure_signing_keys(("ES256",))["ES256"]
    ECKey.objects.create(key=ec_pem(ec.generate_private_key(ec.SECP256R1())))
    token = keys.sign({"sub": "1"}, "ES256")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == keys.signing_keys("ES256")[0].kid
    assert keys.signing_keys("ES256")[0].private_key.private_numbers() == (
        serialization.load_pem_private_key(first.key.encode(), None).private_numbers()
    )
    published = next(key for key in keys.jwks()["keys"] if key["kid"] == header["kid"])
    public_key = jwt.PyJWK(published, algorithm="ES256").key
    assert jwt.decode(token, public_key, algorithms=["ES256"]) == {"sub": "1"}


def test_an_ec_key_saved_here_or_added_elsewhere_is_seen_like_an_rsa_key(db, settings, monkeypatch):
    first = services.ensure_signing_keys(("ES256",))["ES256"]
    assert len(keys.signing_keys("ES256")) == 1
    ECKey.objects.create(key=ec_pem(ec.generate_private_key(ec.SECP256R1())))
    assert len(keys.signing_keys("ES256")) == 2  # post_save dropped the cache
    ECKey.objects.bulk_create([ECKey(key=ec_pem(ec.generate_private_key(ec.SECP256R1())))])
    assert len(keys.signing_keys("ES256")) == 2  # no signal: seen after the TTL
    later = time.monotonic() + settings.OIDC_SIGNING_KEYS_TTL_SECONDS
    monkeypatch.setattr(keys.time, "monotonic", lambda: later)
    assert len(keys.signing_keys("ES256")) == 3
    first_kid = keys.signing_keys("ES256")[0].kid
    first.delete()
    assert first_kid not in [key.kid for key in keys.signing_keys("ES256")]


def test_the_ec_jwk_keeps_32_byte_coordinates_and_its_kid_is_the_rfc_7638_thumbprint(db):
    private_key = ec.generate_private_key(ec.SECP256R1())
    while private_key.public_key().public_numbers().x >= 2**248:  # a leading zero byte
        private_key = ec.generate_private_key(ec.SECP256R1())
    ECKey.objects.all().delete()
    ECKey.objects.create(key=ec_pem(private_key))
    published = next(key for key in keys.jwks()["keys"] if key["kty"] == "EC")
    assert len(jwt.utils.base64url_decode(published["x"])) == 32
    assert len(jwt.utils.base64url_decode(published["y"])) == 32
    assert published["kid"] == JoseECKey.import_key(published).thumbprint()


def test_without_an_ec_key_es256_signing_says_so(db):
    ECKey.objects.all().delete()
    with pytest.raises(keys.NoSigningKey, match="no ES256 signing key"):
        keys.sign({"sub": "1"}, "ES256")


def ec_pem(private_key: ec.EllipticCurvePrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def keys_pem() -> str:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


def test_jwks_endpoint_publishes_every_stored_key_and_verifies_what_it_signs(client, db, settings):
    services.ensure_signing_keys()
    RSAKey.objects.create(key=keys_pem())
    ECKey.objects.create(key=ec_pem(ec.generate_private_key(ec.SECP256R1())))
    host = settings.SITE_URL.split("//", 1)[1]
    answer = client.get("/oidc/jwks", HTTP_HOST=host, secure=True)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == "*"
    published = {jwk["kid"]: jwk for jwk in answer.json()["keys"]}
    stored = [(row.key, "RS256") for row in RSAKey.objects.all()]
    stored += [(row.key, "ES256") for row in ECKey.objects.all()]
    assert len(published) == len(stored) == 4
    for pem, alg in stored:
        public_key = serialization.load_pem_private_key(pem.encode(), None).public_key()
        kid = keys.ec_kid(pem) if alg == "ES256" else hashlib.md5(pem.encode()).hexdigest()  # noqa: S324
        jwk = published[kid]
        assert jwk["alg"] == alg and jwk["use"] == "sig"
        served_key = jwt.PyJWK(jwk, algorithm=alg).key
        assert served_key.public_numbers() == public_key.public_numbers()
    for alg in keys.ALGORITHMS:
        token = keys.sign({"sub": "1"}, alg)
        jwk = published[jwt.get_unverified_header(token)["kid"]]
        verifying_key = jwt.PyJWK(jwk, algorithm=alg).key
        assert jwt.decode(token, verifying_key, algorithms=[alg]) == {"sub": "1"}
