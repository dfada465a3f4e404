"""What the authorization endpoint refuses, and how: re-authentication that signs nobody out,
repeated and over-long parameters, unsupported features, redirects `state` cannot rewrite,
400 pages, and authorization requests by POST next to a CSRF-protected consent form."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from apps.idp import policy
from tests.idp.oauth import (
    IDP_HOST,
    ISSUER,
    REDIRECT_URI,
    authorize_params,
    redirect_params,
    stored,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
PASSWORD = "not used here"  # the `person` fixture's


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def sign_in_with_password(idp: Client, next_url: str = "/"):
    return idp.post("/accounts/login/", {"username": "bob", "password": PASSWORD, "next": next_url})


def error_redirect(answer) -> dict[str, str]:
    assert answer.status_code == 302, answer.content[:300]
    location = answer["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    assert "#" not in location
    return redirect_params(location)


# --- item 3: prompt=login, select_account and max_age sign nobody out


@pytest.mark.parametrize(
    "overrides", [{"prompt": "login"}, {"prompt": "select_account"}, {"max_age": "0"}]
)
def test_reauthentication_keeps_the_session_until_the_new_sign_in(
    idp, public_client, person, overrides
):
    sign_in_with_password(idp)
    asked = idp.get("/oidc/authorize", authorize_params(VERIFIER, **overrides))
    assert asked.status_code == 302
    assert asked["Location"].startswith("/accounts/login/?next=")
    assert is_signed_in(idp)  # a link or an image signs nobody out
    login_page = idp.get(asked["Location"])
    assert "sign in again" in login_page.content.decode()
    back = login_page.context["next"]
    # Coming back without signing in again does not count as a new sign-in.
    assert idp.get(back)["Location"].startswith("/accounts/login/")
    signed_in = sign_in_with_password(idp, back)
    assert signed_in["Location"] == back
    consent_page = idp.get(back)
    assert consent_page.status_code == 200
    assert 'name="allow"' in consent_page.content.decode()


def test_a_forged_reauthentication_marker_is_not_a_new_sign_in(idp, public_client, person):
    sign_in_with_password(idp)
    params = authorize_params(VERIFIER, prompt="login", idp_reauth="1.forged")
    assert idp.get("/oidc/authorize", params)["Location"].startswith("/accounts/login/")


def test_prompt_login_with_none_is_login_required_and_signs_nobody_out(idp, public_client, person):
    idp.force_login(person)
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, prompt="none login"))
    assert error_redirect(answer)["error"] == "login_required"
    assert is_signed_in(idp)


def test_an_anonymous_prompt_login_needs_one_sign_in_only(idp, public_client, person):
    asked = idp.get("/oidc/authorize", authorize_params(VERIFIER, max_age="0"))
    back = idp.get(asked["Location"]).context["next"]
    sign_in_with_password(idp, back)
    assert idp.get(back).status_code == 200


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", " 5", "99999999999"])
def test_max_age_not_a_non_negative_integer_is_invalid_request(idp, public_client, person, max_age):
    idp.force_login(person)
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, max_age=max_age))
    assert error_redirect(answer)["error"] == "invalid_request"
    assert is_signed_in(idp)


def test_a_recent_enough_sign_in_satisfies_max_age(idp, public_client, person):
    sign_in_with_password(idp)
    assert idp.get("/oidc/authorize", authorize_params(VERIFIER, max_age="3600")).status_code == 200


# --- item 6: no parameter twice


@pytest.mark.parametrize(
    "name", ["nonce", "prompt", "max_age", "response_mode", "login_hint", "anything", "scope"]
)
def test_any_repeated_parameter_is_invalid_request(idp, public_client, person, name):
    idp.force_login(person)
    params = {**authorize_params(VERIFIER), name: ["a", "b"]}
    before = stored()
    answer = idp.get("/oidc/authorize", params)
    sent = error_redirect(answer)
    assert sent["error"] == "invalid_request"
    assert "code" not in sent
    assert stored() == before


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_repeated_client_id_or_redirect_uri_is_a_400_page(idp, public_client, person, name):
    idp.force_login(person)
    value = authorize_params(VERIFIER)[name]
    answer = idp.get("/oidc/authorize", {**authorize_params(VERIFIER), name: [value, value]})
    assert answer.status_code == 400
    assert "cannot continue" in answer.content.decode()


def test_end_session_refuses_a_repeated_post_logout_redirect_uri(idp, public_client, person):
    public_client.post_logout_redirect_uris = ["https://mysrv.local:8444/bye"]
    public_client.save()
    idp.force_login(person)
    params = {
        "client_id": public_client.client_id,
        # Registered last: the last value used to win, and the first be ignored.
        "post_logout_redirect_uri": ["https://evil.test/", "https://mysrv.local:8444/bye"],
    }
    for method in (idp.get, idp.post):
        answer = method("/oidc/end-session", {**params, "confirm": "yes"})
        assert answer.status_code == 400
        assert "Location" not in answer
    assert is_signed_in(idp)


# --- item 7: unsupported request features are refused, and discovery says so


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"request_uri": "https://mysrv.local:8444/request.jwt"}, "request_uri_not_supported"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"registration": "{}"}, "registration_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"response_mode": "form_post"}, "invalid_request"),
        ({"response_mode": "query.jwt"}, "invalid_request"),
    ],
)
def test_unsupported_request_features_are_refused(idp, public_client, person, overrides, error):
    idp.force_login(person)
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, **overrides))
    assert error_redirect(answer)["error"] == error


def test_response_mode_query_is_served(idp, public_client, person):
    idp.force_login(person)
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, response_mode="query"))
    assert answer.status_code == 200


def test_discovery_says_request_objects_and_other_response_modes_are_unsupported(idp):
    meta = idp.get("/oidc/.well-known/openid-configuration").json()
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False
    assert meta["response_modes_supported"] == ["query"]


# --- item 9: state cannot rewrite the error redirect


@pytest.mark.parametrize(
    "state",
    [
        "x#error=access_denied&iss=https://evil.test",
        "=?utf-8?q?=23error=3Daccess=5Fdenied=26iss=3Dhttps://evil.test?=",
        "Ā =?utf-8?q?=23iss=3Dhttps://evil.test?=",
        "a+b%20c&state=other",
    ],
    ids=["hash", "encoded word", "encoded word in a non-Latin-1 state", "plus and percent"],
)
@pytest.mark.parametrize(
    "overrides",
    [{"response_type": "token"}, {"code_challenge_method": "plain"}],
    ids=["implicit", "code flow"],
)
def test_state_comes_back_byte_for_byte_in_the_query(idp, public_client, person, state, overrides):
    idp.force_login(person)
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, state=state, **overrides))
    location = answer["Location"]
    assert location.isascii()
    assert urlsplit(location).fragment == ""
    sent = error_redirect(answer)
    assert sent["state"] == state
    assert sent["iss"] == ISSUER
    assert sent["error"] in ("unsupported_response_type", "invalid_request")
    assert list(sent) == ["error", "error_description", "state", "iss"]


def test_success_state_is_percent_encoded_not_decoded(idp, public_client, person):
    state = "=?utf-8?q?=23iss=3Dhttps://evil.test?= a+b"
    idp.force_login(person)
    answer = idp.post(
        "/oidc/authorize/consent", {**authorize_params(VERIFIER, state=state), "allow": "Allow"}
    )
    sent = redirect_params(answer["Location"])
    assert sent["state"] == state and sent["iss"] == ISSUER and "code" in sent
    assert "%20" in answer["Location"] and "#" not in answer["Location"]


# --- item 11: refusal pages are 400


@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "nobody"}, {"redirect_uri": "https://evil.test/"}, {"redirect_uri": None}],
    ids=["unknown client", "unregistered redirect_uri", "missing redirect_uri"],
)
def test_a_request_that_cannot_go_back_to_the_client_is_a_400_page(
    idp, public_client, person, overrides
):
    idp.force_login(person)
    for method in (idp.get, idp.post):
        answer = method("/oidc/authorize", authorize_params(VERIFIER, **overrides))
        assert answer.status_code == 400
        assert "cannot continue" in answer.content.decode()


# --- item 12: every parameter has a maximum length


def test_every_authorization_parameter_read_has_a_maximum():
    for name in ("client_id", "redirect_uri", "state", "nonce", "scope", "prompt", "max_age"):
        assert name in policy.AUTHORIZATION_PARAM_MAX_LENGTHS
    assert policy.too_long_param([("state", "s" * 512)]) is None
    assert policy.too_long_param([("state", "s" * 513)]) == "state"
    assert policy.too_long_param([("anything", "x" * (policy.OTHER_PARAM_MAX_LENGTH + 1))])


@pytest.mark.parametrize(
    "overrides",
    [
        {"state": "s" * 1_000_000},
        {"state": "s" * 513},
        {"nonce": "n" * 256},
        {"scope": "openid " + "x" * 300},
        {"login_hint": "h" * 256},
        {"anything": "a" * 1025},
    ],
    ids=["1 MB state", "state", "nonce", "scope", "login_hint", "unknown parameter"],
)
def test_an_over_long_parameter_is_invalid_request_in_a_short_redirect(
    idp, public_client, person, overrides
):
    idp.force_login(person)
    for method in (idp.get, idp.post):
        answer = method("/oidc/authorize", authorize_params(VERIFIER, **overrides))
        sent = error_redirect(answer)
        assert sent["error"] == "invalid_request"
        assert "code" not in sent
        assert len(answer["Location"]) < 2000


@pytest.mark.parametrize("overrides", [{"client_id": "c" * 256}, {"redirect_uri": "r" * 256}])
def test_an_over_long_client_id_or_redirect_uri_is_a_400_page(
    idp, public_client, person, overrides
):
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, **overrides))
    assert answer.status_code == 400


# --- OIDC Core §3.1.2.1: the authorization request by POST; consent keeps its CSRF check


@pytest.fixture
def browser(idp, person) -> Client:
    """A client that checks CSRF like a browser's server would, signed in."""
    checking = Client(enforce_csrf_checks=True, HTTP_HOST=IDP_HOST, **{"wsgi.url_scheme": "https"})
    checking.force_login(person)
    return checking


def test_an_authorization_request_by_post_needs_no_csrf_token(browser, public_client):
    answer = browser.post(
        "/oidc/authorize", authorize_params(VERIFIER), HTTP_ORIGIN="https://mysrv.local:8444"
    )
    assert answer.status_code == 200
    assert 'name="allow"' in answer.content.decode()


def test_an_anonymous_authorization_request_by_post_returns_to_it_after_sign_in(
    idp, public_client, person
):
    asked = idp.post("/oidc/authorize", authorize_params(VERIFIER))
    back = idp.get(asked["Location"]).context["next"]
    assert back.startswith("/oidc/authorize?") and "code_challenge=" in back
    sign_in_with_password(idp, back)
    assert idp.get(back).status_code == 200


def test_the_consent_answer_needs_the_forms_csrf_token(browser, public_client):
    params = authorize_params(VERIFIER)
    before = stored()
    forged = browser.post("/oidc/authorize/consent", {**params, "allow": "Allow"})
    assert forged.status_code == 403
    assert stored() == before
    page = browser.get("/oidc/authorize", params)
    token = page.context["csrf_token"]
    answer = browser.post(
        "/oidc/authorize/consent", {**params, "allow": "Allow", "csrfmiddlewaretoken": str(token)}
    )
    assert "code" in redirect_params(answer["Location"])


def test_a_consent_answer_sent_to_the_authorization_url_issues_no_code(browser, public_client):
    before = stored()
    answer = browser.post("/oidc/authorize", {**authorize_params(VERIFIER), "allow": "Allow"})
    assert answer.status_code == 200  # the consent page again, nothing issued
    assert stored() == before
