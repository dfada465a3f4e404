import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import RequestFactory
from oidc_provider.models import RSAKey
from oidc_provider.views import JwksView

from apps.idp import keys, services


@pytest.fixture
def parse_count(monkeypatch):
    calls = []
    parse = keys._parse

    def counting_parse(pem):
        calls.append(pem)
        return parse(pem)

    monkeypatch.setattr(keys, "_parse", counting_parse)
    return calls


def test_jwks_is_the_one_the_library_serves(db):
    services.ensure_signing_key()
    library = JwksView.as_view()(RequestFactory().get("/oidc/jwks"))
    assert keys.jwks() == json.loads(library.content)


def test_keys_are_parsed_once_while_the_table_is_unchanged(db, parse_count):
    RSAKey.objects.all().delete()  # migrate's key may be cached by an earlier test
    services.ensure_signing_key()
    first = keys.signing_keys()
    assert keys.signing_keys() == first
    keys.jwks()
    assert len(parse_count) == 1


def test_a_key_saved_in_this_process_is_seen_on_the_next_call(db):
    first = services.ensure_signing_key()
    assert [key.kid for key in keys.signing_keys()] == [first.kid]
    RSAKey.objects.create(key=keys_pem())
    assert len(keys.jwks()["keys"]) == 2
    first.delete()
    assert [key.kid for key in keys.signing_keys()] != [first.kid]


def test_a_key_added_on_another_instance_is_seen_within_the_ttl(db, settings, monkeypatch):
    first = services.ensure_signing_key()
    assert len(keys.jwks()["keys"]) == 1
    RSAKey.objects.bulk_create([RSAKey(key=keys_pem())])  # no signal here, as elsewhere
    assert len(keys.jwks()["keys"]) == 1  # the table is not read on every call
    later = time.monotonic() + settings.OIDC_SIGNING_KEYS_TTL_SECONDS
    monkeypatch.setattr(keys.time, "monotonic", lambda: later)
    assert len(keys.jwks()["keys"]) == 2
    RSAKey.objects.filter(pk=first.pk).delete()  # a queryset delete sends signals too
    assert [key.kid for key in keys.signing_keys()] != [first.kid]


def test_id_tokens_are_signed_with_the_oldest_key(db):
    first = services.ensure_signing_key()
    RSAKey.objects.create(key=keys_pem())
    token = keys.sign_rs256({"sub": "1"})
    assert jwt.get_unverified_header(token)["kid"] == first.kid
    public_key = keys.signing_keys()[0].private_key.public_key()
    assert jwt.decode(token, public_key, algorithms=["RS256"]) == {"sub": "1"}


def keys_pem() -> str:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


def test_jwks_endpoint_serves_the_cached_set(client, db, settings):
    services.ensure_signing_key()
    host = settings.SITE_URL.split("//", 1)[1]
    answer = client.get("/oidc/jwks", HTTP_HOST=host, secure=True)
    assert answer.status_code == 200
    assert answer.json() == keys.jwks()
    assert answer["Access-Control-Allow-Origin"] == "*"
