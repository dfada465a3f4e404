"""Authlib as an independent, strict relying party against the live IdP over HTTPS.

None of our client code is used: Authlib builds the PKCE request, exchanges the code,
refreshes and revokes; joserfc and Authlib's OIDC claim rules check the ID token.
"""

import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def rp(origins, seed_client):
    """Authlib's session for the seed's public client, trusting only the test CA."""
    with OAuth2Session(
        client_id=seed_client.client_id,
        scope="openid profile email offline_access",
        redirect_uri=origins.receiver_url,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        revocation_endpoint_auth_method="none",
    ) as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE is set on these machines
        session.verify = origins.ca_file
        yield session


def check_id_token(
    id_token: str,
    jwks: dict,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    access_token: str,
    alg: str = "RS256",
) -> dict:
    """The claims of an ID token signed with `alg` (the only one allowed); `nonce` None for
    a refresh's, which has none (OIDC Core §12.2)."""
    decoded = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=[alg])
    assert decoded.header["alg"] == alg
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
        },
        params={"nonce": nonce, "access_token": access_token},
    )
    claims.validate(now=int(time.time()))  # exp, iat, aud, iss, nonce, at_hash
    return decoded.claims


def test_authlib_runs_the_whole_flow(origins, https, rp, end_user, seed_client):
    discovery = f"{origins.issuer}/.well-known/openid-configuration"
    meta = rp.get(discovery, withhold_token=True, timeout=10).json()
    assert meta["issuer"] == origins.issuer
    assert "S256" in meta["code_challenge_methods_supported"]
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    jwks = rp.get(meta["jwks_uri"], withhold_token=True, timeout=10).json()

    verifier = "Authlib-interop-" + "v" * 40
    nonce = "nonce-authlib"
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    assert "code_challenge_method=S256" in url

    # The person's part, in a browser (our test helpers only click through the pages).
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    sent = flows.consent(https, origins.idp_url, dict(parse_qsl(urlsplit(url).query)))
    assert sent["iss"] == meta["issuer"]  # RFC 9207, checked before using the code
    assert sent["state"] == state
    callback = f"{origins.receiver_url}?{urlencode(sent)}"

    token = rp.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    claims = check_id_token(
        token["id_token"],
        jwks,
        issuer=meta["issuer"],
        client_id=seed_client.client_id,
        nonce=nonce,
        access_token=token["access_token"],
    )

    info = rp.get(meta["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"]
    assert info.json()["email"] == end_user.email

    first_refresh = token["refresh_token"]
    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
    assert refreshed["refresh_token"] != first_refresh
    assert rp.get(meta["userinfo_endpoint"], timeout=10).status_code == 200

    revoked = rp.revoke_token(
        meta["revocation_endpoint"],
        token=refreshed["refresh_token"],
        token_type_hint="refresh_token",
    )
    assert revoked.status_code == 200
    with pytest.raises(OAuthError) as refused:
        rp.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert rp.get(meta["userinfo_endpoint"], timeout=10).status_code == 401


def test_authlib_verifies_es256_id_tokens_from_exchange_and_refresh(
    origins, https, rp, end_user, seed_client
):
    type(seed_client).objects.filter(pk=seed_client.pk).update(jwt_alg="ES256")
    meta = rp.get(
        f"{origins.issuer}/.well-known/openid-configuration", withhold_token=True, timeout=10
    ).json()
    assert "ES256" in meta["id_token_signing_alg_values_supported"]
    jwks = rp.get(meta["jwks_uri"], withhold_token=True, timeout=10).json()

    verifier = "Authlib-interop-es256-" + "v" * 40
    url, _ = rp.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce="nonce-es256"
    )
    flows.log_in(https, origins.idp_url, end_user.username, END_USER_PASSWORD)
    sent = flows.consent(https, origins.idp_url, dict(parse_qsl(urlsplit(url).query)))
    token = rp.fetch_token(
        meta["token_endpoint"],
        authorization_response=f"{origins.receiver_url}?{urlencode(sent)}",
        code_verifier=verifier,
    )
    expected = {"issuer": meta["issuer"], "client_id": seed_client.client_id, "alg": "ES256"}
    first = check_id_token(
        token["id_token"],
        jwks,
        nonce="nonce-es256",
        access_token=token["access_token"],
        **expected,
    )
    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    again = check_id_token(
        refreshed["id_token"],
        jwks,
        nonce=None,
        access_token=refreshed["access_token"],
        **expected,
    )
    assert again["sub"] == first["sub"]
