"""Discovery, userinfo and revocation (RFC 7009): what RPs read, and errors that stay OAuth."""

import pytest
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Token

from apps.idp import services
from apps.idp.models import Grant
from tests.idp.oauth import (
    CLIENT_ID,
    IDP_HOST,
    ISSUER,
    REDIRECT_URI,
    authorize,
    exchange,
    oauth_error,
    refresh,
)


def revoke(idp, **form):
    return idp.post("/oidc/revoke", {name: v for name, v in form.items() if v is not None})


def userinfo(idp, access_token: str, **extra):
    return idp.get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}", **extra)


# --- discovery


def test_discovery_advertises_what_public_clients_need(idp, public_client):
    meta = idp.get("/oidc/.well-known/openid-configuration").json()
    assert meta["issuer"] == ISSUER
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert meta["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["scopes_supported"] == ["openid", "profile", "email", "offline_access"]
    assert {"sub", "email", "name"} <= set(meta["claims_supported"])
    assert meta["response_types_supported"] == ["code"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]


def test_the_jwks_publishes_an_rs256_and_an_es256_key(idp):
    meta = idp.get("/oidc/.well-known/openid-configuration").json()
    published = idp.get(meta["jwks_uri"].removeprefix(f"https://{IDP_HOST}")).json()["keys"]
    assert sorted((key["kty"], key["alg"], key["use"]) for key in published) == [
        ("EC", "ES256", "sig"),
        ("RSA", "RS256", "sig"),
    ]
    assert next(key["crv"] for key in published if key["kty"] == "EC") == "P-256"
    assert len({key["kid"] for key in published}) == 2


def add_confidential_client(client_id: str, secret: str, jwt_alg: str, **extra) -> OIDCClient:
    return OIDCClient.objects.create(
        name=client_id,
        client_id=client_id,
        client_type="confidential",
        client_secret=secret,
        jwt_alg=jwt_alg,
        _redirect_uris=REDIRECT_URI,
        **extra,
    )


def add_confidential_hs256_client() -> OIDCClient:
    """A client that can get HS256: confidential, with a secret to sign with."""
    return add_confidential_client("legacy", "x" * 32, "HS256")


def test_discovery_names_hs256_only_while_a_confidential_client_can_use_it(idp, public_client):
    add_confidential_hs256_client()
    meta = idp.get("/oidc/.well-known/openid-configuration").json()
    assert meta["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "HS256"]


def test_discovery_issuer_ignores_the_host_header(idp, settings):
    settings.ALLOWED_HOSTS = ["idp.local", "evil.test"]
    meta = idp.get("/oidc/.well-known/openid-configuration", HTTP_HOST="idp.local:8443").json()
    assert meta["issuer"] == ISSUER


# --- userinfo


def test_userinfo_with_a_fresh_token(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    answer = userinfo(idp, tokens["access_token"])
    assert answer.status_code == 200
    assert answer.json()["email"] == "bob@example.com"
    assert answer["Cache-Control"] == "no-store"


def test_userinfo_reads_one_row(idp, public_client, person, django_assert_num_queries):
    # Only the columns it needs are selected: none is left to load with a query of its own.
    tokens = exchange(idp, authorize(idp, person)).json()
    with django_assert_num_queries(1):
        answer = userinfo(idp, tokens["access_token"])
    assert answer.json()["preferred_username"] == person.username


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "invalid_token"),
        ({"HTTP_AUTHORIZATION": "Bearer " + "0" * 32}, 401, "invalid_token"),
        ({"HTTP_AUTHORIZATION": "Bearer \x00\x01"}, 401, "invalid_token"),
        ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, 400, "invalid_request"),
        ({"HTTP_AUTHORIZATION": "Bearer"}, 401, "invalid_token"),
    ],
    ids=["none", "unknown", "control characters", "basic", "empty bearer"],
)
def test_userinfo_errors_are_rfc_6750(idp, headers, status, error):
    answer = idp.get("/oidc/userinfo", **headers)
    assert answer.status_code == status
    assert oauth_error(answer) == error
    assert answer["WWW-Authenticate"].startswith(f'Bearer error="{error}"')


def test_userinfo_refuses_a_token_in_the_query_string(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    answer = idp.get("/oidc/userinfo", {"access_token": tokens["access_token"]})
    assert answer.status_code == 400 and oauth_error(answer) == "invalid_request"


def test_userinfo_with_a_client_credentials_token_is_an_error_not_a_500(idp):
    confidential = add_confidential_client("machine", "y" * 32, "RS256", _scope="openid email")
    answer = idp.post(
        "/oidc/token",
        {"grant_type": "client_credentials", "client_id": "machine", "client_secret": "y" * 32},
    )
    assert answer.status_code == 200, answer.content
    assert not Token.objects.get().user
    assert confidential.scope == ["openid", "email"]
    info = userinfo(idp, answer.json()["access_token"])
    assert info.status_code == 401 and oauth_error(info) == "invalid_token"


def test_userinfo_needs_the_openid_scope(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    Token.objects.update(_scope="email")
    answer = userinfo(idp, tokens["access_token"])
    assert answer.status_code == 403 and oauth_error(answer) == "insufficient_scope"


# --- revocation (RFC 7009)


@pytest.mark.postgres
def test_revoking_a_refresh_token_revokes_its_grant(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    newest = refresh(idp, first["refresh_token"]).json()
    bystander = exchange(idp, authorize(idp, person)).json()

    answer = revoke(idp, token=newest["refresh_token"], client_id=CLIENT_ID)
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"

    assert oauth_error(refresh(idp, newest["refresh_token"])) == "invalid_grant"
    assert userinfo(idp, newest["access_token"]).status_code == 401
    assert Grant.objects.filter(revoked_at__isnull=False).count() == 1
    assert userinfo(idp, bystander["access_token"]).status_code == 200


def test_revoking_an_access_token_ends_it_and_keeps_the_refresh_token(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    answer = revoke(
        idp, token=tokens["access_token"], token_type_hint="access_token", client_id=CLIENT_ID
    )
    assert answer.status_code == 200
    assert userinfo(idp, tokens["access_token"]).status_code == 401
    assert refresh(idp, tokens["refresh_token"]).status_code == 200


def test_revoking_a_rotated_refresh_token_revokes_the_grant(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    newest = refresh(idp, first["refresh_token"]).json()
    assert revoke(idp, token=first["refresh_token"], client_id=CLIENT_ID).status_code == 200
    assert oauth_error(refresh(idp, newest["refresh_token"])) == "invalid_grant"


@pytest.mark.parametrize("value", ["0" * 32, "not a token at all", "\x00", "x" * 5000])
def test_revoking_an_unknown_token_answers_200(idp, public_client, value):
    assert revoke(idp, token=value, client_id=CLIENT_ID).status_code == 200


def test_another_clients_token_is_not_revoked(idp, public_client, person):
    services.seed_public_client("other-cli", redirect_uri=REDIRECT_URI)
    tokens = exchange(idp, authorize(idp, person)).json()
    revoke(idp, token=tokens["refresh_token"], client_id="other-cli")
    assert refresh(idp, tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": CLIENT_ID}, 400, "invalid_request"),
        ({"token": "abc"}, 401, "invalid_client"),
        ({"token": "abc", "client_id": "nobody"}, 401, "invalid_client"),
        ({"token": ["a", "b"], "client_id": CLIENT_ID}, 400, "invalid_request"),
    ],
    ids=["no token", "no client", "unknown client", "repeated token"],
)
def test_revocation_errors(idp, public_client, form, status, error):
    answer = revoke(idp, **form)
    assert answer.status_code == status and oauth_error(answer) == error


def test_revocation_is_post_only(idp):
    answer = idp.get("/oidc/revoke")
    assert answer.status_code == 405 and oauth_error(answer) == "invalid_request"


def test_a_cached_discovery_document_follows_the_signing_algorithms(idp, public_client, settings):
    settings.OIDC_DISCOVERY_CACHE_ENABLE = True
    url = "/oidc/.well-known/openid-configuration"
    assert idp.get(url).json()["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    add_confidential_hs256_client()
    algorithms = idp.get(url).json()["id_token_signing_alg_values_supported"]
    assert algorithms == ["RS256", "ES256", "HS256"]
