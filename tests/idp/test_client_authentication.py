"""Client authentication at every endpoint that authenticates clients (RFC 6749 §2.3).

A public client has no secret: one it sends matches nothing. And a request uses one
authentication method, never Basic and a body secret at once.
"""

import base64

import pytest
from oidc_provider.models import Token

from apps.idp import policy
from tests.idp.oauth import CLIENT_ID, authorize, exchange, oauth_error, stored
from tests.idp.test_back_channel import add_confidential_client


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {pair}"}


@pytest.mark.parametrize(
    ("form", "headers", "error"),
    [
        ({"client_secret": "anything"}, {}, "invalid_client"),
        ({}, basic(CLIENT_ID, "anything"), "invalid_client"),
        ({"client_secret": "anything"}, basic(CLIENT_ID, "anything"), "invalid_request"),
    ],
    ids=["secret in the body", "secret with Basic", "Basic and a body secret"],
)
def test_a_public_client_sending_a_secret_gets_no_tokens(
    idp, public_client, person, form, headers, error
):
    authorized = authorize(idp, person)
    before = stored()
    answer = idp.post(
        "/oidc/token",
        {
            "grant_type": "authorization_code",
            "code": authorized.code,
            "redirect_uri": "https://mysrv.local:8444/",
            "client_id": CLIENT_ID,
            "code_verifier": authorized.verifier,
            **form,
        },
        **headers,
    )
    assert answer.status_code == (401 if error == "invalid_client" else 400), answer.content
    assert oauth_error(answer) == error
    assert "access_token" not in answer.json()
    assert stored() == before
    # the code is still good for a request that authenticates properly
    assert exchange(idp, authorized).status_code == 200


def test_two_methods_at_once_are_refused_for_a_confidential_client(idp):
    add_confidential_client("machine", "y" * 32, "RS256", _scope="openid email")
    form = {"grant_type": "client_credentials", "client_secret": "y" * 32}
    answer = idp.post("/oidc/token", form, **basic("machine", "y" * 32))
    assert answer.status_code == 400 and oauth_error(answer) == "invalid_request"
    assert not Token.objects.exists()
    alone = idp.post(
        "/oidc/token", {"grant_type": "client_credentials"}, **basic("machine", "y" * 32)
    )
    assert alone.status_code == 200, alone.content


def test_revocation_refuses_a_public_clients_secret(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    for form, headers in (
        ({"client_id": CLIENT_ID, "client_secret": "anything"}, {}),
        ({}, basic(CLIENT_ID, "anything")),
    ):
        answer = idp.post("/oidc/revoke", {"token": tokens["refresh_token"], **form}, **headers)
        assert answer.status_code in (400, 401) and oauth_error(answer) == "invalid_client"
    assert Token.objects.filter(refresh_token=policy.token_hash(tokens["refresh_token"])).exists()


def test_introspection_refuses_two_methods_at_once(idp, public_client, person):
    """Refused as introspection refuses any failed authentication: `active: false` (RFC 7662)."""
    access_token = exchange(idp, authorize(idp, person)).json()["access_token"]
    scope = f"token_introspection {CLIENT_ID}"  # the library checks the token's aud is in it
    add_confidential_client("machine", "y" * 32, "RS256", _scope=scope)
    credentials = basic("machine", "y" * 32)
    alone = idp.post("/oidc/introspect", {"token": access_token}, **credentials)
    assert alone.status_code == 200 and alone.json()["active"] is True, alone.content
    form = {"token": access_token, "client_secret": "y" * 32}
    answer = idp.post("/oidc/introspect", form, **credentials)
    assert answer.status_code == 200 and answer.json() == {"active": False}
