"""Malformed input never gives a 500: always a well-formed OAuth error (hypothesis).

Marked postgres: PostgreSQL refuses NUL in text, which SQLite stores happily.
"""

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.idp.oauth import CLIENT_ID, ISSUER, REDIRECT_URI, authorize_params, oauth_error

pytestmark = pytest.mark.postgres

fuzz = hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

junk = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=300),
    st.sampled_from(["", "\x00", "%00", "S256", "plain", "openid", "code", CLIENT_ID, "0" * 32]),
)
values = st.one_of(junk, st.lists(junk, min_size=2, max_size=3))


def form_of(names: list[str]) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=8), values, max_size=8)


TOKEN_NAMES = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "username",
    "password",
]
AUTHORIZE_NAMES = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "code_challenge",
    "code_challenge_method",
    "request",
]
authorization_headers = st.one_of(
    st.none(),
    st.sampled_from(["Bearer", "Bearer ", "Basic !!!", "Basic Og==", "bearer x y"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
)


def headers(authorization: str | None) -> dict[str, str]:
    return {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}


@pytest.fixture
def signed_in(idp, public_client, person):
    idp.force_login(person)
    return idp


@fuzz
@given(form=form_of(TOKEN_NAMES), authorization=authorization_headers)
def test_token_endpoint_always_answers_an_oauth_error(signed_in, form, authorization):
    answer = signed_in.post("/oidc/token", form, **headers(authorization))
    assert answer.status_code in (400, 401), answer.content
    oauth_error(answer)


@fuzz
@given(
    form=form_of(["token", "token_type_hint", "client_id", "client_secret"]),
    authorization=authorization_headers,
)
def test_revocation_endpoint_answers_200_or_an_oauth_error(signed_in, form, authorization):
    answer = signed_in.post("/oidc/revoke", form, **headers(authorization))
    assert answer.status_code in (200, 400, 401), answer.content
    if answer.status_code != 200:
        oauth_error(answer)


@fuzz
@given(
    query=form_of(["access_token"]),
    authorization=authorization_headers,
    method=st.sampled_from(["get", "post"]),
)
def test_userinfo_answers_an_rfc_6750_error(signed_in, query, authorization, method):
    answer = getattr(signed_in, method)("/oidc/userinfo", query, **headers(authorization))
    assert answer.status_code in (400, 401), answer.content
    oauth_error(answer)
    assert answer["WWW-Authenticate"].startswith("Bearer ")


@fuzz
@given(overrides=form_of(AUTHORIZE_NAMES), method=st.sampled_from(["get", "post"]))
def test_authorize_answers_a_page_or_an_error_redirect_with_iss(signed_in, overrides, method):
    params = {**authorize_params("v" * 43), **overrides}
    answer = getattr(signed_in, method)("/oidc/authorize", params)
    assert answer.status_code in (200, 302, 400), answer.content[:300]
    if answer.status_code == 302:
        location = answer["Location"]
        if location.startswith(REDIRECT_URI):
            assert f"iss={ISSUER}".replace(":", "%3A").replace("/", "%2F") in location
            assert "error=" in location or "code=" in location
        else:
            assert location.startswith("/accounts/login/")


@fuzz
@given(form=form_of(["token", "client_id", "client_secret"]), authorization=authorization_headers)
def test_introspection_answers_json_for_anything(signed_in, form, authorization):
    answer = signed_in.post("/oidc/introspect", form, **headers(authorization))
    assert answer.status_code == 200
    assert answer.json() == {"active": False}


jwt_like = st.builds(
    lambda parts: ".".join(parts),
    st.lists(st.text(alphabet="eyJhbGciOiJSUzI1NiJ9-_=", max_size=30), min_size=1, max_size=4),
)


@fuzz
@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "id_token_hint": st.one_of(jwt_like, junk),
            "post_logout_redirect_uri": junk,
            "state": junk,
            "client_id": junk,
            "confirm": junk,
        },
    ),
    method=st.sampled_from(["get", "post"]),
)
def test_end_session_answers_a_page_or_a_registered_redirect(signed_in, params, method):
    answer = getattr(signed_in, method)("/oidc/end-session", params)
    assert answer.status_code in (200, 400), answer.content[:300]
