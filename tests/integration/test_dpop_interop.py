"""DPoP interop (RFC 9449) with an independent client implementation: pydpop from PyPI.

Its requests integration signs a proof for every request and answers `use_dpop_nonce` by
retrying with the server's nonce; nothing of ours makes these proofs. The IdP must bind the
tokens to pydpop's key, rotate the bound refresh token for it, and serve userinfo for it.
"""

import pytest
import requests
from pydpop import generate_key
from pydpop.integrations.requests import DPoPAuth

from apps.client import pkce
from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = pytest.mark.integration

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("nonces", [False, True], ids=["no-nonce", "server-nonce"])
def test_pydpop_signs_in_refreshes_and_reads_userinfo(
    origins, https, seed_client, end_user, settings, nonces
):
    settings.OIDC_DPOP_NONCE = nonces
    key = generate_key("ES256")
    token_url = f"{origins.idp_url}/oidc/token"
    verifier = pkce.make_verifier()
    params = flows.authorize_params(seed_client.client_id, origins.receiver_url, verifier)
    code = flows.authorization_code(
        https, origins.idp_url, params, end_user.username, END_USER_PASSWORD
    )["code"]

    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": origins.receiver_url,
        "client_id": seed_client.client_id,
        "code_verifier": verifier,
    }
    answer = https.post(token_url, data=exchange, headers=FORM, auth=DPoPAuth(key), timeout=10)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"] == "DPoP"
    if nonces:  # pydpop had to ask again, with the IdP's nonce
        assert [r.json()["error"] for r in answer.history] == ["use_dpop_nonce"]

    refresh = {"grant_type": "refresh_token", "client_id": seed_client.client_id}
    refresh["refresh_token"] = tokens["refresh_token"]
    answer = https.post(token_url, data=refresh, headers=FORM, auth=DPoPAuth(key), timeout=10)
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert rotated["token_type"] == "DPoP" and rotated["refresh_token"] != tokens["refresh_token"]

    access = rotated["access_token"]
    userinfo = https.get(
        f"{origins.idp_url}/oidc/userinfo",
        headers={"Authorization": f"DPoP {access}"},
        auth=DPoPAuth(key, access_token=access),  # its proof carries the token's ath
        timeout=10,
    )
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["sub"] == str(end_user.pk)

    # The same token as a plain bearer token, without pydpop's proof, is worth nothing.
    bare = requests.get(
        f"{origins.idp_url}/oidc/userinfo",
        headers={"Authorization": f"Bearer {access}"},
        verify=origins.ca_file,
        timeout=10,
    )
    assert bare.status_code == 401
