"""Driving the IdP in-process: Django's test client on the IdP origin, and its fixtures."""

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection
from django.test import Client
from oidc_provider.models import Code, RSAKey, Token

from apps.client import pkce
from apps.idp import services
from apps.idp.models import Grant

IDP_HOST = "idp.local:8443"
ISSUER = "https://idp.local:8443/oidc"
REDIRECT_URI = "https://mysrv.local:8444/"
CLIENT_ID = "test-cli"


FORM = "application/x-www-form-urlencoded"


class FormClient(Client):
    """Django's test client, posting dicts urlencoded as OAuth clients do (RFC 6749 §3.2)."""

    def post(self, path, data=None, content_type=FORM, **extra):
        if content_type == FORM and isinstance(data, dict):
            data = urlencode(data, doseq=True)
        return super().post(path, data, content_type=content_type, **extra)


@dataclass(frozen=True)
class Authorized:
    code: str
    verifier: str
    params: dict[str, str]  # what the IdP sent to the redirect URI


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    """One RSA key for the whole run: generating one per test costs more than the test."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")


@pytest.fixture
def idp(db, signing_key_pem, settings) -> Client:
    """A test client speaking HTTPS to the IdP's origin (no CSRF checks: it is not a browser)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    RSAKey.objects.exclude(key=signing_key_pem).delete()  # the one migrate made
    RSAKey.objects.get_or_create(key=signing_key_pem)
    # a flush by an earlier transactional test removed migrate's
    services.ensure_signing_keys(("ES256",))
    return FormClient(HTTP_HOST=IDP_HOST, **{"wsgi.url_scheme": "https"})


@pytest.fixture
def public_client(db):
    return services.seed_public_client(CLIENT_ID, redirect_uri=REDIRECT_URI)


@pytest.fixture
def person(django_user_model, idp):
    return django_user_model.objects.create_user(
        username="bob", password="not used here", email="bob@example.com", first_name="Bob"
    )


def redirect_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    return dict(parse_qsl(parts.query or parts.fragment, keep_blank_values=True))


def authorize_params(verifier: str | None = None, **extra: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "redirect_uri": REDIRECT_URI,
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": pkce.s256_challenge(verifier) if verifier else None,
        "code_challenge_method": "S256" if verifier else None,
    }
    params.update(extra)
    return {name: value for name, value in params.items() if value is not None}


def consent(idp: Client, user, params: dict[str, str]):
    """Sign `user` in, then POST the consent form's answer (Allow); return the response."""
    idp.force_login(user)
    page = idp.get("/oidc/authorize", params)
    if page.status_code != 200:
        return page
    return idp.post("/oidc/authorize/consent", {**params, "allow": "Allow"})


def authorize(idp: Client, user, **extra: str | None) -> Authorized:
    verifier = pkce.make_verifier()
    params = authorize_params(verifier, **extra)
    answer = consent(idp, user, params)
    assert answer.status_code == 302, answer.content[:300]
    sent = redirect_params(answer["Location"])
    assert "code" in sent, sent
    return Authorized(code=sent["code"], verifier=verifier, params=sent)


def token(idp: Client, **form: str):
    """POST the form; names in WSGI's header spelling (HTTP_DPOP=...) are sent as headers."""
    headers = {name: form.pop(name) for name in list(form) if name.startswith("HTTP_")}
    return idp.post(
        "/oidc/token", {name: v for name, v in form.items() if v is not None}, **headers
    )


def exchange(idp: Client, authorized: Authorized, **overrides: str | None):
    form = {
        "grant_type": "authorization_code",
        "code": authorized.code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "code_verifier": authorized.verifier,
    }
    form.update(overrides)
    return token(idp, **form)


def refresh(idp: Client, current: str, **overrides: str | None):
    form = {"grant_type": "refresh_token", "refresh_token": current, "client_id": CLIENT_ID}
    form.update(overrides)
    return token(idp, **form)


def refresh_statements() -> list[str]:
    """What a successful refresh runs, by first word: the read of token, client, grant and
    user, then the rotation (on PostgreSQL one statement; elsewhere it and the grant's use)."""
    if connection.vendor == "postgresql":
        return ["SELECT", "WITH"]
    return ["SELECT", "UPDATE", "UPDATE"]


def stored() -> tuple:
    """Everything the token endpoint could change, to compare before and after a request."""
    return (
        sorted(Code.objects.values_list("code", "expires_at")),
        sorted(Token.objects.values_list("access_token", "refresh_token", "expires_at")),
        sorted(
            Grant.objects.values_list(
                "pk", "exchanged_at", "last_used_at", "previous_refresh_hash", "revoked_at"
            )
        ),
    )


def oauth_error(response) -> str:
    """The `error` of a well-formed OAuth JSON error response (RFC 6749 §5.2)."""
    assert response["Content-Type"] == "application/json", response.content[:200]
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body["error"]
