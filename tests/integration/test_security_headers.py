"""Security headers and cookies on both origins, over the real TLS servers."""

import pytest

from apps.client import pkce
from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = pytest.mark.integration


def test_hsts_on_both_origins(origins, https, settings):
    for url in (f"{origins.idp_url}/accounts/login/", origins.receiver_url):
        answer = https.get(url, params={"code": "x"}, timeout=10)
        hsts = answer.headers["Strict-Transport-Security"]
        assert f"max-age={settings.SECURE_HSTS_SECONDS}" in hsts, url
        assert "includeSubDomains" in hsts


def test_login_and_consent_cannot_be_framed(origins, https, seed_client, end_user):
    login = https.get(f"{origins.idp_url}/accounts/login/", timeout=10)
    assert login.headers["X-Frame-Options"] == "DENY"
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    params = flows.authorize_params(
        seed_client.client_id, origins.receiver_url, pkce.make_verifier()
    )
    consent = https.get(f"{origins.idp_url}/oidc/authorize", params=params, timeout=10)
    assert consent.status_code == 200 and "Allow" in consent.text
    assert consent.headers["X-Frame-Options"] == "DENY"
    assert consent.headers["X-Content-Type-Options"] == "nosniff"


def test_the_receiver_sends_no_referrer(origins, https):
    page = https.get(origins.receiver_url, params={"code": "abc", "state": "s"}, timeout=10)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Frame-Options"] == "DENY"


def test_every_idp_cookie_is_secure_and_httponly(origins, https, end_user):
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    names = {cookie.name for cookie in https.cookies}
    assert {"idp_sessionid", "idp_csrftoken"} <= names
    for cookie in https.cookies:
        assert cookie.secure, cookie.name
        assert cookie.has_nonstandard_attr("HttpOnly"), cookie.name


def test_token_responses_are_not_cached(origins, https, seed_client):
    answer = flows.token_request(https, origins.idp_url, grant_type="refresh_token")
    assert answer.status_code == 401
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json()["error"] == "invalid_client"
