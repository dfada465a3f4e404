"""The receiver's protected API and its resource metadata, against the real IdP over TLS."""

import re

import pytest
from django.core.management import call_command

from apps.client import pkce
from apps.idp import services
from tests import flows
from tests.conftest import END_USER_PASSWORD

SECRET = "resource-server-test-secret"


@pytest.fixture
def resource_server(origins, settings, seed_client):
    """The API's confidential client, seeded for the test client's tokens, no cache."""
    settings.OIDC_CA_BUNDLE = origins.ca_file
    settings.RESOURCE_SERVER_SECRET = SECRET
    settings.RESOURCE_SERVER_CACHE_SECONDS = 0
    return services.seed_resource_server(
        settings.RESOURCE_SERVER_CLIENT_ID, secret=SECRET, audiences=(seed_client.client_id,)
    )


def tokens_for(
    https, origins, end_user, scope="openid profile email offline_access", resource=None
) -> dict:
    verifier = pkce.make_verifier()
    params = flows.authorize_params(
        "test-cli", origins.receiver_url, verifier, scope=scope, resource=resource
    )
    answer = flows.authorization_code(
        https, origins.idp_url, params, end_user.username, END_USER_PASSWORD
    )
    tokens = flows.redeem(https, origins.idp_url, params, answer, verifier)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def call_api(https, origins, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return https.get(f"{origins.receiver_url}api/profile", headers=headers, timeout=10)


def challenges(answer) -> dict[str, dict[str, str]]:
    """Each challenge of WWW-Authenticate (one header, comma-joined) by scheme: its params."""
    header = answer.headers["WWW-Authenticate"]
    return {
        scheme: dict(re.findall(r'(\w+)="([^"]*)"', params))
        for scheme, params in re.findall(r'(Bearer|DPoP)((?:\s*,?\s*\w+="[^"]*")*)', header)
    }


def challenge_params(answer, scheme="Bearer") -> dict[str, str]:
    assert answer.headers["WWW-Authenticate"].startswith(f"{scheme} ")
    return challenges(answer)[scheme]


def metadata_url(origins) -> str:
    """The API's own metadata (RFC 9728 §3.1: the well-known prefix before its path)."""
    return f"{origins.receiver_url}.well-known/oauth-protected-resource/api/profile"


def origin_metadata_url(origins) -> str:
    return f"{origins.receiver_url}.well-known/oauth-protected-resource"


def test_without_a_token_the_api_says_where_its_metadata_is(https, origins, resource_server):
    answer = call_api(https, origins)
    assert answer.status_code == 401
    assert challenges(answer) == {  # no error code (RFC 6750 §3.1); either scheme will do
        "Bearer": {"resource_metadata": metadata_url(origins)},
        "DPoP": {"algs": "ES256 PS256 RS256 EdDSA", "resource_metadata": metadata_url(origins)},
    }
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_signed_in_persons_token_reads_the_profile(https, origins, resource_server, end_user):
    tokens = tokens_for(https, origins, end_user)
    answer = call_api(https, origins, tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "sub": str(end_user.pk),
        "scope": ["openid", "profile", "email", "offline_access"],
        "client_id": "test-cli",
    }
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_unknown_token_is_invalid_token(https, origins, resource_server):
    answer = call_api(https, origins, "not-a-token-of-ours")
    assert answer.status_code == 401
    assert challenge_params(answer)["error"] == "invalid_token"
    assert answer.json()["error"] == "invalid_token"


def test_a_revoked_token_stops_working_once_the_cache_expires(
    https, origins, resource_server, end_user, settings
):
    settings.RESOURCE_SERVER_CACHE_SECONDS = 0
    tokens = tokens_for(https, origins, end_user)
    assert call_api(https, origins, tokens["access_token"]).status_code == 200
    revoked = https.post(
        f"{origins.idp_url}/oidc/revoke",
        data={"token": tokens["access_token"], "client_id": "test-cli"},
        timeout=10,
    )
    assert revoked.status_code == 200
    answer = call_api(https, origins, tokens["access_token"])
    assert answer.status_code == 401
    assert challenge_params(answer)["error"] == "invalid_token"


def test_within_the_cache_lifetime_a_revoked_token_still_works(
    https, origins, resource_server, end_user, settings
):
    # The documented price of the cache: the IdP is not asked again for its lifetime.
    settings.RESOURCE_SERVER_CACHE_SECONDS = 30
    tokens = tokens_for(https, origins, end_user)
    assert call_api(https, origins, tokens["access_token"]).status_code == 200
    https.post(
        f"{origins.idp_url}/oidc/revoke",
        data={"token": tokens["access_token"], "client_id": "test-cli"},
        timeout=10,
    )
    assert call_api(https, origins, tokens["access_token"]).status_code == 200
    settings.RESOURCE_SERVER_CACHE_SECONDS = 0  # a new cache: the IdP is asked again
    assert call_api(https, origins, tokens["access_token"]).status_code == 401


def test_a_token_without_profile_is_insufficient_scope(https, origins, resource_server, end_user):
    tokens = tokens_for(https, origins, end_user, scope="openid email")
    answer = call_api(https, origins, tokens["access_token"])
    assert answer.status_code == 403
    params = challenge_params(answer)
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "openid profile"
    assert params["resource_metadata"] == metadata_url(origins)


def test_a_malformed_authorization_header_is_invalid_request(https, origins, resource_server):
    answer = https.get(
        f"{origins.receiver_url}api/profile",
        headers={"Authorization": "Bearer two words"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert challenge_params(answer)["error"] == "invalid_request"


def test_without_its_secret_the_api_says_which_variable_is_missing(
    https, origins, resource_server, settings, tmp_path
):
    settings.RESOURCE_SERVER_SECRET = ""
    settings.RESOURCE_SERVER_SECRET_FILE = tmp_path / "absent"
    answer = call_api(https, origins, "any-token")
    assert answer.status_code == 503
    assert "RESOURCE_SERVER_SECRET" in answer.json()["error_description"]


def test_a_wrong_secret_is_not_mistaken_for_an_invalid_token(
    https, origins, resource_server, settings, end_user
):
    # The library answers a bad client secret with active: false, so the API can only say
    # invalid_token; what matters is that it never answers 200.
    tokens = tokens_for(https, origins, end_user)
    settings.RESOURCE_SERVER_SECRET = "wrong"
    assert call_api(https, origins, tokens["access_token"]).status_code == 401


def test_the_secret_file_is_the_fallback(
    https, origins, resource_server, settings, end_user, tmp_path
):
    secret_file = tmp_path / "resource_server_secret"
    secret_file.write_text(SECRET + "\n")
    settings.RESOURCE_SERVER_SECRET = ""
    settings.RESOURCE_SERVER_SECRET_FILE = secret_file
    tokens = tokens_for(https, origins, end_user)
    assert call_api(https, origins, tokens["access_token"]).status_code == 200


def test_the_protected_resource_metadata(https, origins, resource_server):
    answer = https.get(origin_metadata_url(origins), timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {
        "resource": origins.receiver_url.rstrip("/"),
        "authorization_servers": [origins.issuer],
        "scopes_supported": ["openid", "profile"],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
        "dpop_bound_access_tokens_required": False,
        "resource_name": "Receiver profile API",
    }


def test_the_apis_own_metadata_names_the_api(https, origins, resource_server):
    answer = https.get(metadata_url(origins), timeout=10)
    assert answer.status_code == 200
    assert answer.json()["resource"] == f"{origins.receiver_url}api/profile"
    assert answer.json()["authorization_servers"] == [origins.issuer]


OTHER_API = "https://other.example/api"


@pytest.fixture
def two_resources(settings, resource_server, seed_client):
    """The IdP knows a second API, and (misconfigured) tells this one about its tokens too:
    the API's own audience check is all that stands between."""
    api = f"{settings.RECEIVER_URL}api/profile"
    settings.OIDC_RESOURCES = [api, OTHER_API]
    services.seed_resource_server(
        settings.RESOURCE_SERVER_CLIENT_ID,
        secret=SECRET,
        audiences=(seed_client.client_id, api, OTHER_API),
    )
    return api


def test_a_token_for_another_resource_is_refused(https, origins, two_resources, end_user):
    tokens = tokens_for(https, origins, end_user, resource=OTHER_API)
    answer = call_api(https, origins, tokens["access_token"])
    assert answer.status_code == 401
    params = challenge_params(answer)
    assert params["error"] == "invalid_token"
    assert "another resource" in params["error_description"]


def test_a_token_for_this_api_is_accepted(https, origins, two_resources, end_user):
    tokens = tokens_for(https, origins, end_user, resource=two_resources)
    answer = call_api(https, origins, tokens["access_token"])
    assert answer.status_code == 200, answer.text


def test_the_api_is_not_on_the_idps_origin(https, origins, resource_server):
    assert https.get(f"{origins.idp_url}/api/profile", timeout=10).status_code == 404


def test_seed_resource_server_writes_a_private_secret_and_keeps_it(
    db, settings, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("RESOURCE_SERVER_SECRET", raising=False)
    settings.RESOURCE_SERVER_SECRET_FILE = tmp_path / "var" / "resource_server_secret"
    call_command("seed_resource_server", "--audience", "cli-a", "--audience", "cli-b")
    secret = settings.RESOURCE_SERVER_SECRET_FILE.read_text().strip()
    assert settings.RESOURCE_SERVER_SECRET_FILE.stat().st_mode & 0o777 == 0o600
    call_command("seed_resource_server", "--audience", "cli-a")
    assert settings.RESOURCE_SERVER_SECRET_FILE.read_text().strip() == secret
    call_command("seed_resource_server", "--audience", "cli-a", "--new-secret")
    assert settings.RESOURCE_SERVER_SECRET_FILE.read_text().strip() != secret
    assert secret not in capsys.readouterr().out
