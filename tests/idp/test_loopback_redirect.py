"""Loopback redirect URIs of command-line clients (RFC 8252 §7.3, RFC 9700 §2.1)."""

import pytest

from apps.idp import policy
from tests.idp.oauth import (
    CLIENT_ID,
    authorize,
    authorize_params,
    exchange,
    oauth_error,
    redirect_params,
)

V4 = "http://127.0.0.1/callback"
V6 = "http://[::1]/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def matches(requested: str, registered: str, public: bool = True) -> bool:
    return policy.redirect_uri_matches(requested, registered, loopback_any_port=public)


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:51234/callback",
        "http://127.0.0.1:1/callback",
        V4,
        "http://127.0.0.1:65535/callback",
    ],
)
def test_a_registered_ipv4_loopback_uri_matches_any_port(requested):
    assert matches(requested, V4)


def test_a_registered_ipv6_loopback_uri_matches_any_port():
    assert matches("http://[::1]:8400/callback", V6)
    assert not matches("http://127.0.0.1:8400/callback", V6)


@pytest.mark.parametrize(
    "requested",
    [
        "https://127.0.0.1:51234/callback",  # another scheme
        "HTTP://127.0.0.1:51234/callback",
        "http://localhost:51234/callback",  # a name, not the IP literal
        "http://127.0.0.2:51234/callback",
        "http://127.0.0.1:51234/callback/",  # another path
        "http://127.0.0.1:51234/Callback",
        "http://127.0.0.1:51234/callback?x=1",
        "http://127.0.0.1:51234/callback#x",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:051234/callback",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:80@evil.test/callback",
        "http://127.0.0.1:5123x/callback",
        "http://127.0.0.1.evil.test:80/callback",
    ],
)
def test_nothing_else_about_a_loopback_uri_is_relaxed(requested):
    assert not matches(requested, V4)


def test_other_uris_keep_exact_matching_ports_included():
    assert matches("https://mysrv.local:8444/", "https://mysrv.local:8444/")
    assert not matches("https://mysrv.local:9999/", "https://mysrv.local:8444/")
    assert not matches("https://mysrv.local/", "https://mysrv.local:8444/")
    assert not matches("http://localhost:5000/callback", "http://localhost/callback")
    # A registered port is exact too: only a port-less loopback registration is a pattern.
    assert not matches("http://127.0.0.1:9000/callback", "http://127.0.0.1:8000/callback")


def test_confidential_clients_get_no_port_freedom():
    assert not matches("http://127.0.0.1:51234/callback", V4, public=False)
    assert matches(V4, V4, public=False)


LOOPBACK = "http://127.0.0.1:51234/callback"


def test_authorize_redirects_to_the_port_the_client_listens_on(idp, public_client, person):
    authorized = authorize(idp, person, redirect_uri=LOOPBACK)
    assert authorized.params["iss"] == "https://idp.local:8443/oidc"
    answer = exchange(idp, authorized, redirect_uri=LOOPBACK)
    assert answer.status_code == 200, answer.content
    assert answer.json()["access_token"]


def test_the_code_is_bound_to_the_port_of_its_request(idp, public_client, person):
    authorized = authorize(idp, person, redirect_uri=LOOPBACK)
    answer = exchange(idp, authorized, redirect_uri="http://127.0.0.1:51235/callback")
    assert answer.status_code == 400
    assert oauth_error(answer) == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri", ["http://localhost:51234/callback", "https://127.0.0.1:51234/callback"]
)
def test_authorize_refuses_other_loopback_forms_with_a_page(idp, public_client, redirect_uri):
    answer = idp.get("/oidc/authorize", authorize_params(VERIFIER, redirect_uri=redirect_uri))
    assert answer.status_code == 400  # the refusal page: never a redirect there
    assert "Location" not in answer
    assert "cannot continue" in answer.content.decode()


def test_an_error_redirect_to_a_loopback_port_carries_iss(idp, public_client, person):
    idp.force_login(person)
    params = authorize_params(VERIFIER, redirect_uri=LOOPBACK, client_id=CLIENT_ID)
    answer = idp.post("/oidc/authorize/consent", params)  # denied: no `allow`
    assert answer["Location"].startswith(LOOPBACK + "?")
    assert redirect_params(answer["Location"])["error"] == "access_denied"
    assert redirect_params(answer["Location"])["iss"] == "https://idp.local:8443/oidc"
