"""RP-initiated logout: a verified id_token_hint, and a CSRF-protected POST to sign out."""

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client
from oidc_provider.models import RSAKey

from tests.idp.oauth import IDP_HOST, ISSUER, authorize, exchange

AFTER_LOGOUT = "https://mysrv.local:8444/bye"


@pytest.fixture
def signed_in(idp, public_client, person):
    """(browser, id_token): a CSRF-checking browser signed in, and an ID token for it."""
    return sign_in(idp, public_client, person)


@pytest.fixture
def es256_signed_in(idp, public_client, person):
    """The same, for a client whose ID tokens are ES256."""
    public_client.jwt_alg = "ES256"
    return sign_in(idp, public_client, person)


def sign_in(idp, public_client, person) -> tuple[Client, str]:
    public_client.post_logout_redirect_uris = [AFTER_LOGOUT]
    public_client.save()
    id_token = exchange(idp, authorize(idp, person)).json()["id_token"]
    browser = Client(enforce_csrf_checks=True, HTTP_HOST=IDP_HOST, **{"wsgi.url_scheme": "https"})
    browser.force_login(person)
    return browser, id_token


def is_signed_in(browser: Client) -> bool:
    return "_auth_user_id" in browser.session


def forged(id_token: str, **changes) -> str:
    claims = jwt.decode(id_token, options={"verify_signature": False})
    claims.update(changes)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = jwt.get_unverified_header(id_token)["kid"]
    return jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": kid})


def test_get_shows_a_confirmation_and_signs_nobody_out(signed_in):
    browser, id_token = signed_in
    page = browser.get("/oidc/end-session", {"id_token_hint": id_token})
    assert page.status_code == 200
    assert 'name="confirm"' in page.content.decode()
    assert is_signed_in(browser)


def test_confirmed_post_signs_out_and_returns_to_the_registered_uri(signed_in):
    browser, id_token = signed_in
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT, "state": "s1"}
    page = browser.get("/oidc/end-session", params)
    csrf = page.context["csrf_token"]
    answer = browser.post(
        "/oidc/end-session", {**params, "confirm": "yes", "csrfmiddlewaretoken": str(csrf)}
    )
    assert answer.status_code == 302
    assert answer["Location"] == f"{AFTER_LOGOUT}?state=s1"
    assert not is_signed_in(browser)


def test_post_without_csrf_token_is_refused(signed_in):
    browser, id_token = signed_in
    answer = browser.post("/oidc/end-session", {"id_token_hint": id_token, "confirm": "yes"})
    assert answer.status_code == 403
    assert is_signed_in(browser)


@pytest.mark.parametrize(
    "make_hint",
    [
        lambda token: forged(token),
        lambda token: forged(token, iss="https://evil.test/oidc"),
        lambda token: jwt.encode(
            jwt.decode(token, options={"verify_signature": False}), None, algorithm="none"
        ),
        lambda token: token[:-4] + "AAAA",
        lambda token: "not-a-jwt",
    ],
    ids=["other key", "other issuer", "alg none", "tampered signature", "garbage"],
)
def test_an_unverifiable_hint_is_refused(signed_in, make_hint):
    browser, id_token = signed_in
    hint = make_hint(id_token)
    answer = browser.get("/oidc/end-session", {"id_token_hint": hint})
    assert answer.status_code == 400
    assert is_signed_in(browser)


def test_an_unregistered_post_logout_redirect_uri_is_refused(signed_in):
    browser, id_token = signed_in
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.test/"}
    assert browser.get("/oidc/end-session", params).status_code == 400


def test_an_expired_but_genuine_hint_is_accepted(signed_in):
    browser, id_token = signed_in
    claims = jwt.decode(id_token, options={"verify_signature": False})
    claims.update(iat=1_000_000_000, exp=1_000_000_300)  # long expired (RP-Initiated Logout §2)
    rsa_key = RSAKey.objects.get()
    hint = jwt.encode(claims, rsa_key.key, algorithm="RS256", headers={"kid": rsa_key.kid})
    page = browser.get("/oidc/end-session", {"id_token_hint": hint})
    assert page.status_code == 200
    assert claims["iss"] == ISSUER


def test_an_es256_clients_hint_is_accepted(es256_signed_in):
    browser, id_token = es256_signed_in
    assert jwt.get_unverified_header(id_token)["alg"] == "ES256"
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": AFTER_LOGOUT}
    page = browser.get("/oidc/end-session", params)
    assert page.status_code == 200
    assert 'name="confirm"' in page.content.decode()


@pytest.mark.parametrize(
    "sign",
    [
        lambda claims, kid: jwt.encode(
            claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid}
        ),
        lambda claims, kid: jwt.encode(
            claims, RSAKey.objects.get().key, algorithm="RS256", headers={"kid": kid}
        ),
    ],
    ids=["other EC key", "our RSA key, RS256"],
)
def test_an_es256_clients_hint_signed_otherwise_is_refused(es256_signed_in, sign):
    browser, id_token = es256_signed_in
    claims = jwt.decode(id_token, options={"verify_signature": False})
    hint = sign(claims, jwt.get_unverified_header(id_token)["kid"])
    assert browser.get("/oidc/end-session", {"id_token_hint": hint}).status_code == 400
    assert is_signed_in(browser)


def test_a_client_id_that_is_not_the_hints_audience_is_refused(signed_in):
    """RP-Initiated Logout §2: client_id and the hint's aud MUST match."""
    browser, id_token = signed_in
    params = {"id_token_hint": id_token, "client_id": "another-client"}
    answer = browser.get("/oidc/end-session", params)
    assert answer.status_code == 400
    assert 'name="confirm"' not in answer.content.decode()
    assert is_signed_in(browser)
    matching = browser.get("/oidc/end-session", {**params, "client_id": "test-cli"})
    assert matching.status_code == 200
