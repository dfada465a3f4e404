"""A narrower scope on refresh narrows the access token only (RFC 6749 §6)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.idp.oauth import authorize, exchange, oauth_error, refresh, refresh_statements


def userinfo(idp, access_token: str):
    return idp.get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")


@pytest.mark.postgres
def test_a_narrower_refresh_keeps_the_refresh_chain_with_the_grants_scope(
    idp, public_client, person
):
    first = exchange(idp, authorize(idp, person)).json()
    narrowed = refresh(idp, first["refresh_token"], scope="openid")
    assert narrowed.status_code == 200, narrowed.content
    body = narrowed.json()
    assert body["scope"] == "openid"  # the access token's scope
    assert "refresh_token" in body  # the chain goes on
    info = userinfo(idp, body["access_token"]).json()
    assert "email" not in info and "name" not in info  # the narrowed access token

    widened = refresh(idp, body["refresh_token"])  # no scope: the grant's, in full
    assert widened.status_code == 200, widened.content
    assert widened.json()["scope"] == "openid profile email offline_access"
    assert "refresh_token" in widened.json()
    assert userinfo(idp, widened.json()["access_token"]).json()["email"] == "bob@example.com"

    again = refresh(idp, widened.json()["refresh_token"], scope="openid email")
    assert again.json()["scope"] == "openid email"
    beyond = refresh(idp, again.json()["refresh_token"], scope="openid phone")
    assert oauth_error(beyond) == "invalid_scope"


@pytest.mark.postgres
def test_a_narrowed_refresh_still_takes_one_read_and_the_rotation(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    current = refresh(idp, tokens["refresh_token"], scope="openid").json()["refresh_token"]
    with CaptureQueriesContext(connection) as captured:
        answer = refresh(idp, current, scope="openid")
    assert answer.status_code == 200 and "refresh_token" in answer.json()
    statements = [q["sql"].split()[0] for q in captured if "SAVEPOINT" not in q["sql"]]
    assert statements == refresh_statements()
