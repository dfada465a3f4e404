"""Resource indicators (RFC 8707): the grant's resource is its tokens' audience."""

import base64

import pytest

from apps.idp import rfc8707, services
from apps.idp.models import Grant
from tests.idp.oauth import (
    CLIENT_ID,
    authorize,
    authorize_params,
    consent,
    exchange,
    oauth_error,
    redirect_params,
    refresh,
)

API = "https://mysrv.local:8444/api/profile"
OTHER_API = "https://other.example/api"
RS_ID, RS_SECRET = "resource-server", "rs-secret"


@pytest.fixture(autouse=True)
def known_resources(settings):
    settings.OIDC_RESOURCES = [API, OTHER_API]


@pytest.fixture
def resource_server(idp, public_client):
    """The API's introspecting client: it serves API (and the seed client's plain tokens)."""
    return services.seed_resource_server(RS_ID, secret=RS_SECRET, audiences=(CLIENT_ID, API))


def introspect(idp, token: str, client_id: str = RS_ID, secret: str = RS_SECRET) -> dict:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answer = idp.post("/oidc/introspect", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert answer.status_code == 200
    return answer.json()


# --- the pure rules


@pytest.mark.parametrize(
    "value", ["", "api/profile", "//host/path", "https://host/p#frag", "https://h/ x", " x"]
)
def test_a_resource_is_an_absolute_uri_without_a_fragment(value):
    with pytest.raises(rfc8707.InvalidTarget):
        rfc8707.check_resource_uri(value)


def test_an_unknown_or_second_resource_is_invalid_target():
    assert rfc8707.requested_resource([], [API]) == ""
    assert rfc8707.requested_resource([API], [API]) == API
    with pytest.raises(rfc8707.InvalidTarget):
        rfc8707.requested_resource([OTHER_API], [API])
    with pytest.raises(rfc8707.InvalidTarget):
        rfc8707.requested_resource([API, API], [API])


def test_a_token_request_keeps_the_grants_resource():
    assert rfc8707.token_request_resource([], API, [API]) == API
    assert rfc8707.token_request_resource([API], API, [API]) == API
    with pytest.raises(rfc8707.InvalidTarget):
        rfc8707.token_request_resource([OTHER_API], API, [API, OTHER_API])
    with pytest.raises(rfc8707.InvalidTarget):
        rfc8707.token_request_resource([API], "", [API])  # no widening of an unbound grant


# --- the endpoints


def test_the_grant_remembers_the_resource_and_introspection_names_it(idp, person, resource_server):
    authorized = authorize(idp, person, resource=API)
    assert Grant.objects.get().resource == API
    tokens = exchange(idp, authorized, resource=API).json()
    assert introspect(idp, tokens["access_token"])["aud"] == API


def test_refresh_keeps_the_audience(idp, person, resource_server):
    tokens = exchange(idp, authorize(idp, person, resource=API)).json()
    refreshed = refresh(idp, tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert introspect(idp, refreshed.json()["access_token"])["aud"] == API
    again = refresh(idp, refreshed.json()["refresh_token"], resource=API)
    assert again.status_code == 200
    assert introspect(idp, again.json()["access_token"])["aud"] == API


def test_refresh_cannot_change_the_resource(idp, person, public_client):
    tokens = exchange(idp, authorize(idp, person, resource=API)).json()
    refused = refresh(idp, tokens["refresh_token"], resource=OTHER_API)
    assert (refused.status_code, oauth_error(refused)) == (400, "invalid_target")
    assert refresh(idp, tokens["refresh_token"]).status_code == 200  # still the live one


def test_the_code_exchange_cannot_change_the_resource(idp, person, public_client):
    authorized = authorize(idp, person, resource=API)
    refused = exchange(idp, authorized, resource=OTHER_API)
    assert (refused.status_code, oauth_error(refused)) == (400, "invalid_target")


def test_a_plain_token_cannot_be_widened_to_a_resource(idp, person, public_client):
    tokens = exchange(idp, authorize(idp, person)).json()
    refused = refresh(idp, tokens["refresh_token"], resource=API)
    assert oauth_error(refused) == "invalid_target"


@pytest.mark.parametrize(
    "resource", ["https://unknown.example/api", "api/profile", f"{API}#x", [API, OTHER_API]]
)
def test_authorize_refuses_a_bad_resource_with_invalid_target(idp, person, public_client, resource):
    answer = consent(idp, person, authorize_params("v" * 43, resource=resource))
    assert answer.status_code == 302
    sent = redirect_params(answer["Location"])
    assert sent["error"] == "invalid_target"
    assert sent["iss"] == "https://idp.local:8443/oidc"
    assert not Grant.objects.exists()


def test_the_consent_form_carries_the_resource_and_names_it(idp, person, public_client):
    idp.force_login(person)
    page = idp.get("/oidc/authorize", authorize_params("v" * 43, resource=API)).content.decode()
    assert f'name="resource" type="hidden" value="{API}"' in page
    assert "The access will be for" in page


def test_a_plain_token_has_no_audience_in_introspection(idp, person, resource_server):
    tokens = exchange(idp, authorize(idp, person)).json()
    answer = introspect(idp, tokens["access_token"])
    assert answer["active"] is True and "aud" not in answer


def test_only_the_resources_server_learns_about_its_tokens(idp, person, resource_server):
    # Another resource server, which may introspect the seed client's plain tokens but
    # serves another resource: it is told nothing of a token for API.
    services.seed_resource_server("other-rs", secret="other", audiences=(CLIENT_ID, OTHER_API))
    tokens = exchange(idp, authorize(idp, person, resource=API)).json()
    assert introspect(idp, tokens["access_token"], "other-rs", "other") == {"active": False}
    assert introspect(idp, tokens["access_token"])["active"] is True


def test_the_device_grant_carries_the_resource(idp, person, public_client, resource_server):
    started = idp.post(
        "/oidc/device_authorization", {"client_id": CLIENT_ID, "scope": "openid", "resource": API}
    ).json()
    idp.force_login(person)
    idp.post("/device", {"user_code": started["user_code"], "decision": "allow"})
    tokens = idp.post(
        "/oidc/token",
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": started["device_code"],
            "client_id": CLIENT_ID,
        },
    )
    assert tokens.status_code == 200, tokens.content
    assert introspect(idp, tokens.json()["access_token"])["aud"] == API


def test_the_device_authorization_refuses_an_unknown_resource(idp, public_client):
    refused = idp.post(
        "/oidc/device_authorization",
        {"client_id": CLIENT_ID, "resource": "https://unknown.example/"},
    )
    assert (refused.status_code, oauth_error(refused)) == (400, "invalid_target")
