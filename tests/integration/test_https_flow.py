"""The seed's flow over real HTTPS: discovery, sign-in, consent, the receiver page."""

import pytest

from apps.client import pkce
from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = pytest.mark.integration


def test_discovery_and_jwks_over_https_with_our_ca(origins, https):
    meta = https.get(f"{origins.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == origins.issuer
    assert meta["authorization_endpoint"] == f"{origins.issuer}/authorize"
    keys = https.get(meta["jwks_uri"], timeout=10).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"


def test_issuer_does_not_follow_the_host_header(origins, https):
    meta = https.get(
        f"{origins.issuer}/.well-known/openid-configuration",
        headers={"Host": "127.0.0.1"},
        timeout=10,
    )
    assert meta.status_code in (400, 404) or meta.json()["issuer"] == origins.issuer


def test_sign_in_and_consent_send_a_code_to_the_receiver(origins, https, seed_client, end_user):
    verifier = pkce.make_verifier()
    params = flows.authorize_params(seed_client.client_id, origins.receiver_url, verifier)
    answer = flows.authorization_code(
        https, origins.idp_url, params, end_user.username, END_USER_PASSWORD
    )
    assert answer["code"] and answer["state"] == "state-123"

    page = https.get(origins.receiver_url, params=answer, timeout=10)
    assert page.status_code == 200
    assert f'id="code">{answer["code"]}<' in page.text

    tokens = flows.redeem(https, origins.idp_url, params, answer, verifier)
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= tokens.json().keys()


def test_the_consent_page_names_the_client_and_each_scope(origins, https, seed_client, end_user):
    params = flows.authorize_params(
        seed_client.client_id, origins.receiver_url, pkce.make_verifier()
    )
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    page = https.get(f"{origins.idp_url}/oidc/authorize", params=params, timeout=10)
    assert page.status_code == 200
    assert seed_client.name in page.text
    for described in ("Your name and username", "Your email address", "Stay connected"):
        assert described in page.text
    assert page.headers["X-Frame-Options"] == "DENY"


def test_consent_is_asked_every_time(origins, https, seed_client, end_user):
    params = flows.authorize_params(
        seed_client.client_id, origins.receiver_url, pkce.make_verifier()
    )
    flows.authorization_code(https, origins.idp_url, params, end_user.username, END_USER_PASSWORD)
    again = https.get(
        f"{origins.idp_url}/oidc/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert again.status_code == 200 and "Allow" in again.text


def test_deny_sends_access_denied_to_the_receiver(origins, https, seed_client, end_user):
    params = flows.authorize_params(
        seed_client.client_id, origins.receiver_url, pkce.make_verifier()
    )
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    answer = flows.consent(https, origins.idp_url, params, allow=False)
    assert answer["error"] == "access_denied"
    assert answer["state"] == "state-123"

    page = https.get(origins.receiver_url, params=answer, timeout=10)
    assert page.status_code == 400
    assert 'id="error">access_denied<' in page.text


def test_anonymous_consent_post_is_sent_to_sign_in(origins, https, seed_client):
    params = flows.authorize_params(
        seed_client.client_id, origins.receiver_url, pkce.make_verifier()
    )
    login_page = https.get(f"{origins.idp_url}/accounts/login/", timeout=10)
    _, fields = flows.form_inputs(login_page.text)
    params.update(allow="Allow", csrfmiddlewaretoken=fields["csrfmiddlewaretoken"])
    answer = https.post(
        f"{origins.idp_url}/oidc/authorize",
        data=params,
        headers={"Referer": f"{origins.idp_url}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    assert "/accounts/login/" in answer.headers["Location"]


def test_wrong_password_is_shown_on_the_login_page(origins, https, end_user):
    login_url = f"{origins.idp_url}/accounts/login/"
    _, fields = flows.form_inputs(https.get(login_url, timeout=10).text)
    fields.update(username=end_user.username, password="wrong")
    page = https.post(login_url, data=fields, headers={"Referer": login_url}, timeout=10)
    assert page.status_code == 200
    assert "enter a correct username and password" in page.text


@pytest.mark.parametrize(
    "path", ["admin/", "oidc/.well-known/openid-configuration", "accounts/login/"]
)
def test_idp_paths_answer_404_on_the_receiver_origin(origins, https, path):
    assert https.get(f"{origins.receiver_url}{path}", timeout=10).status_code == 404


def test_receiver_page_is_not_served_by_the_idp_origin(origins, https):
    page = https.get(f"{origins.idp_url}/", params={"code": "abc"}, timeout=10)
    assert "Your authorization code" not in page.text


def test_idp_session_cookie_is_secure_httponly_and_named_for_the_idp(origins, https, end_user):
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    cookie = next(c for c in https.cookies if c.name == "idp_sessionid")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    receiver_page = https.get(origins.receiver_url, params={"code": "x"}, timeout=10)
    assert "Set-Cookie" not in receiver_page.headers
