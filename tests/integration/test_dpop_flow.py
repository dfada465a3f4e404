"""DPoP-bound tokens (RFC 9449) end to end over HTTPS, with proofs a client signs with joserfc.

The IdP verifies with PyJWT; the proofs here come from joserfc, an independent JOSE
implementation, with a real P-256 key per client, over the same TLS server as the demo's.
"""

import pytest
import requests

from apps.client import pkce
from tests import flows
from tests.conftest import END_USER_PASSWORD
from tests.dpop_proofs import ProofKey

pytestmark = pytest.mark.integration


def post_token(http: requests.Session, origins, proof: str | None, **form: str):
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if proof is not None:
        headers["DPoP"] = proof
    return http.post(f"{origins.idp_url}/oidc/token", data=form, headers=headers, timeout=10)


@pytest.fixture
def bound_sign_in(origins, https, seed_client, end_user):
    """`bound_sign_in(key)`: the code flow, its exchange with a proof of `key`; the tokens."""

    def run(key: ProofKey) -> dict:
        verifier = pkce.make_verifier()
        params = flows.authorize_params(seed_client.client_id, origins.receiver_url, verifier)
        answer = flows.authorization_code(
            https, origins.idp_url, params, end_user.username, END_USER_PASSWORD
        )
        tokens = post_token(
            https,
            origins,
            key.proof("POST", f"{origins.idp_url}/oidc/token"),
            grant_type="authorization_code",
            code=answer["code"],
            redirect_uri=origins.receiver_url,
            client_id=seed_client.client_id,
            code_verifier=verifier,
        )
        assert tokens.status_code == 200, tokens.text
        return tokens.json()

    return run


def test_a_bound_refresh_token_is_refused_with_another_key_and_the_holder_goes_on(
    origins, https, seed_client, bound_sign_in
):
    holder = ProofKey()
    tokens = bound_sign_in(holder)
    assert tokens["token_type"] == "DPoP"
    token_url = f"{origins.idp_url}/oidc/token"
    form = {"grant_type": "refresh_token", "client_id": seed_client.client_id}

    thief = ProofKey().proof("POST", token_url)
    stolen = post_token(https, origins, thief, refresh_token=tokens["refresh_token"], **form)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    no_proof = post_token(https, origins, None, refresh_token=tokens["refresh_token"], **form)
    assert no_proof.status_code == 400 and no_proof.json()["error"] == "invalid_dpop_proof"

    for _ in range(2):  # the key holder's chain is intact, and rotates on
        answer = post_token(
            https,
            origins,
            holder.proof("POST", token_url),
            refresh_token=tokens["refresh_token"],
            **form,
        )
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        assert tokens["token_type"] == "DPoP"


def test_userinfo_takes_a_bound_token_only_with_a_fresh_proof_of_its_key(
    origins, https, bound_sign_in
):
    key = ProofKey()
    access = bound_sign_in(key)["access_token"]
    url = f"{origins.idp_url}/oidc/userinfo"

    as_bearer = https.get(url, headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert as_bearer.status_code == 401
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')

    proof = key.proof("GET", url, access_token=access)
    headers = {"Authorization": f"DPoP {access}", "DPoP": proof}
    answer = https.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["email"] == "alice@example.com"

    replayed = https.get(url, headers=headers, timeout=10)
    assert replayed.status_code == 401
    challenge = replayed.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"') and "algs=" in challenge
