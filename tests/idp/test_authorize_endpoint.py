"""The authorization endpoint: PKCE S256, iss (RFC 9207), scopes, code binding."""

import pytest
from oidc_provider.models import Client as OIDCClient

from apps.idp import policy
from apps.idp.models import Grant
from tests.idp.oauth import (
    ISSUER,
    REDIRECT_URI,
    authorize,
    authorize_params,
    consent,
    exchange,
    redirect_params,
    stored,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain", "code_challenge": VERIFIER}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),  # means plain (RFC 7636 §4.3)
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "admin phone"}, "invalid_scope"),
        ({"nonce": "n" * 300}, "invalid_request"),
        ({"state": ["a", "b"]}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ],
    ids=[
        "no challenge",
        "plain",
        "no method",
        "malformed challenge",
        "unknown method",
        "implicit",
        "hybrid",
        "no allowed scope",
        "long nonce",
        "repeated state",
        "request object",
    ],
)
def test_refused_authorization_requests_redirect_an_error_with_iss(
    idp, public_client, person, overrides, error
):
    params = authorize_params(VERIFIER, **overrides)
    idp.force_login(person)
    before = stored()
    answer = idp.get("/oidc/authorize", params)
    assert answer.status_code == 302
    assert answer["Location"].startswith(REDIRECT_URI + "?")
    sent = redirect_params(answer["Location"])
    assert sent["error"] == error
    assert sent["iss"] == ISSUER
    assert "code" not in sent
    assert stored() == before


def test_pkce_is_checked_before_sign_in(idp, public_client):
    params = authorize_params(None)
    answer = idp.get("/oidc/authorize", params)
    assert redirect_params(answer["Location"])["error"] == "invalid_request"


def test_unknown_client_or_redirect_uri_shows_a_page_not_a_redirect(idp, public_client):
    for overrides in ({"client_id": "nobody"}, {"redirect_uri": "https://evil.test/"}):
        answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, **overrides))
        assert answer.status_code == 400
        assert "cannot continue" in answer.content.decode()


def test_success_carries_code_state_and_iss(idp, public_client, person):
    authorized = authorize(idp, person)
    assert authorized.params["iss"] == ISSUER
    assert authorized.params["state"] == "st-1"


def test_deny_carries_iss_and_the_state_unaltered(idp, public_client, person):
    state = "a b&iss=https://evil.test"
    params = authorize_params(VERIFIER, state=state)
    idp.force_login(person)
    answer = idp.post("/oidc/authorize/consent", params)  # no `allow`: the person said no
    sent = redirect_params(answer["Location"])
    assert sent == {
        "error": "access_denied",
        "error_description": sent["error_description"],
        "state": state,
        "iss": ISSUER,
    }


def test_code_is_bound_to_the_redirect_uri_of_its_request(idp, public_client, person):
    authorized = authorize(idp, person)
    grant = Grant.objects.get(code_hash=policy.token_hash(authorized.code))
    assert grant.redirect_uri == REDIRECT_URI
    assert grant.exchanged_at is None


def test_client_scopes_are_enforced(idp, public_client, person):
    public_client.scope = ["openid", "email"]
    public_client.save()
    authorized = authorize(idp, person, scope="openid profile email offline_access")
    tokens = exchange(idp, authorized).json()
    assert tokens["scope"] == "openid email"
    assert "refresh_token" not in tokens  # offline_access was not the client's to get


def test_an_empty_client_scope_allows_every_supported_scope(idp, public_client, person):
    public_client.scope = []
    public_client.save()
    authorized = authorize(idp, person, scope="openid profile email offline_access phone")
    tokens = exchange(idp, authorized).json()
    assert tokens["scope"] == "openid profile email offline_access"
    assert "refresh_token" in tokens


def test_consent_page_lists_only_granted_scopes(idp, public_client, person):
    public_client.scope = ["openid", "email"]
    public_client.save()
    idp.force_login(person)
    page = idp.get("/oidc/authorize", authorize_params(VERIFIER)).content.decode()
    assert 'name="scope" type="hidden" value="openid email"' in page


def test_hs256_public_client_is_refused_at_authorize(idp, public_client, person):
    OIDCClient.objects.filter(pk=public_client.pk).update(jwt_alg="HS256")
    answer = consent(idp, person, authorize_params(VERIFIER))
    assert redirect_params(answer["Location"])["error"] == "unauthorized_client"


def test_anonymous_consent_post_goes_to_sign_in(idp, public_client):
    answer = idp.post("/oidc/authorize", {**authorize_params(VERIFIER), "allow": "Allow"})
    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("overrides", [{"client_id": ""}, {"redirect_uri": "https://evil.test/"}])
def test_a_tampered_consent_form_gets_a_page_not_a_500(idp, public_client, person, overrides):
    idp.force_login(person)
    answer = idp.post("/oidc/authorize", {**authorize_params(VERIFIER, **overrides), "allow": "1"})
    assert answer.status_code == 400
    assert "cannot continue" in answer.content.decode()


@pytest.mark.parametrize("state", ["a\r\nSet-Cookie: x=1", "\x00", "tab\there"])
def test_state_with_control_characters_gets_a_page_not_a_500(idp, public_client, person, state):
    idp.force_login(person)
    for method in (idp.get, idp.post):
        answer = method("/oidc/authorize", authorize_params(VERIFIER, state=state))
        assert answer.status_code == 400


def test_non_ascii_state_comes_back_percent_encoded(idp, public_client, person):
    idp.force_login(person)
    answer = idp.post("/oidc/authorize/consent", authorize_params(VERIFIER, state="ĀØ"))  # denial
    assert answer["Location"].isascii()
    assert redirect_params(answer["Location"])["state"] == "ĀØ"
