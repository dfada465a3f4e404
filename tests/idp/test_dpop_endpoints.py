"""DPoP at the IdP's endpoints (RFC 9449): bound tokens from the token endpoint, their refresh,
userinfo, introspection, revocation, discovery and the client setting, in-process."""

import json
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from oidc_provider.models import Client as OIDCClient

from apps.idp import dpop_binding, retention, services
from apps.idp.models import DPoPClientPolicy, DPoPProofUse, Grant
from tests.dpop_proofs import ProofKey
from tests.idp.oauth import (
    CLIENT_ID,
    REDIRECT_URI,
    authorize,
    exchange,
    oauth_error,
    redirect_params,
    refresh,
    stored,
)

SITE = "https://idp.local:8443"
TOKEN_URL = f"{SITE}/oidc/token"
USERINFO_URL = f"{SITE}/oidc/userinfo"


@pytest.fixture
def key() -> ProofKey:
    return ProofKey()


def with_proof(proof: str) -> dict[str, str]:
    return {"HTTP_DPOP": proof}


def bound_tokens(idp, person, key: ProofKey, **authorize_extra) -> dict:
    answer = exchange(idp, authorize(idp, person, **authorize_extra), **with_proof_for(key))
    assert answer.status_code == 200, answer.content
    return answer.json()


def with_proof_for(key: ProofKey, url: str = TOKEN_URL) -> dict:
    """Keyword arguments of oauth.exchange/refresh that add a fresh proof (extra WSGI keys)."""
    return {"HTTP_DPOP": key.proof("POST", url)}


def dpop_userinfo(idp, access_token: str, proof: str | None):
    headers = {"HTTP_AUTHORIZATION": f"DPoP {access_token}"}
    if proof is not None:
        headers["HTTP_DPOP"] = proof
    return idp.get("/oidc/userinfo", **headers)


# --- the token endpoint


@pytest.mark.postgres
def test_a_code_exchanged_with_a_proof_gives_dpop_tokens_bound_to_its_key(
    idp, public_client, person, key
):
    tokens = bound_tokens(idp, person, key)
    assert tokens["token_type"] == "DPoP"
    assert dpop_binding.bound_jkt(tokens["access_token"]) == key.jkt
    assert Grant.objects.get().dpop_jkt == key.jkt  # a public client's refresh tokens too (§5)


def test_a_request_without_a_proof_still_gets_bearer_tokens(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    assert tokens["token_type"] == "Bearer"
    assert dpop_binding.bound_jkt(tokens["access_token"]) is None
    assert Grant.objects.get().dpop_jkt == ""
    assert refresh(idp, tokens["refresh_token"]).json()["token_type"] == "Bearer"


def test_the_key_holder_refreshes_a_bound_grant(idp, public_client, person, key):
    tokens = bound_tokens(idp, person, key)
    again = refresh(idp, tokens["refresh_token"], **with_proof_for(key))
    assert again.status_code == 200, again.content
    assert again.json()["token_type"] == "DPoP"
    assert dpop_binding.bound_jkt(again.json()["access_token"]) == key.jkt


@pytest.mark.postgres
def test_a_refresh_with_another_key_is_refused_and_changes_nothing(
    idp, public_client, person, key, caplog
):
    tokens = bound_tokens(idp, person, key)
    before = stored()
    thief = refresh(idp, tokens["refresh_token"], **with_proof_for(ProofKey()))
    assert thief.status_code == 400 and oauth_error(thief) == "invalid_grant"
    assert stored() == before
    assert any('"event": "dpop.key_mismatch"' in line for line in caplog.messages)
    holder = refresh(idp, tokens["refresh_token"], **with_proof_for(key))
    assert holder.status_code == 200, holder.content


def test_a_refresh_of_a_bound_grant_without_a_proof_is_refused(
    idp, public_client, person, key, caplog
):
    tokens = bound_tokens(idp, person, key)
    before = stored()
    copied = refresh(idp, tokens["refresh_token"])
    assert copied.status_code == 400 and oauth_error(copied) == "invalid_dpop_proof"
    assert stored() == before
    assert any('"event": "dpop.proof_missing"' in line for line in caplog.messages)
    assert refresh(idp, tokens["refresh_token"], **with_proof_for(key)).status_code == 200


@pytest.mark.postgres
def test_a_proof_is_accepted_once(idp, public_client, person, key):
    tokens = bound_tokens(idp, person, key)
    proof = key.proof("POST", TOKEN_URL)
    first = refresh(idp, tokens["refresh_token"], HTTP_DPOP=proof)
    assert first.status_code == 200
    replay = refresh(idp, first.json()["refresh_token"], HTTP_DPOP=proof)
    assert replay.status_code == 400 and oauth_error(replay) == "invalid_dpop_proof"
    assert "used before" in replay.json()["error_description"]


@pytest.mark.parametrize(
    "make_proof",
    [
        lambda key: key.proof("GET", TOKEN_URL),  # htm
        lambda key: key.proof("POST", f"{SITE}/oidc/userinfo"),  # htu
        lambda key: key.proof("POST", "https://elsewhere.example/oidc/token"),
        lambda key: key.proof("POST", TOKEN_URL, iat=time.time() - 3600),  # iat
        lambda key: "not.a.proof",
        lambda key: key.proof("POST", TOKEN_URL) + "," + key.proof("POST", TOKEN_URL),
    ],
    ids=["method", "path", "origin", "stale", "garbage", "two"],
)
def test_an_invalid_proof_is_refused_before_anything_changes(
    idp, public_client, person, key, make_proof
):
    authorized = authorize(idp, person)
    before = stored()
    answer = exchange(idp, authorized, HTTP_DPOP=make_proof(key))
    assert answer.status_code == 400 and oauth_error(answer) == "invalid_dpop_proof"
    assert stored() == before
    assert exchange(idp, authorized).status_code == 200  # the code is still there


def test_a_proof_algorithm_outside_the_setting_is_refused(
    idp, public_client, person, key, settings
):
    settings.OIDC_DPOP_SIGNING_ALGS = ("EdDSA",)
    answer = exchange(idp, authorize(idp, person), **with_proof_for(key))
    assert oauth_error(answer) == "invalid_dpop_proof"


def test_dpop_jkt_binds_the_code_to_that_key(idp, public_client, person, key):
    authorized = authorize(idp, person, dpop_jkt=key.jkt)
    without = exchange(idp, authorized)
    assert oauth_error(without) == "invalid_dpop_proof"
    other = exchange(idp, authorized, **with_proof_for(ProofKey()))
    assert oauth_error(other) == "invalid_grant"
    right = exchange(idp, authorized, **with_proof_for(key))
    assert right.status_code == 200, right.content
    assert right.json()["token_type"] == "DPoP"


def test_dpop_jkt_goes_through_the_consent_form(idp, public_client, person, key):
    idp.force_login(person)
    page = idp.get("/oidc/authorize", {"dpop_jkt": key.jkt, **_params()})
    assert f'name="dpop_jkt" type="hidden" value="{key.jkt}"' in page.content.decode()


def test_a_malformed_dpop_jkt_is_an_invalid_request(idp, public_client, person):
    idp.force_login(person)
    answer = idp.get("/oidc/authorize", {"dpop_jkt": "not-a-thumbprint", **_params()})
    assert answer.status_code == 302
    assert redirect_params(answer["Location"])["error"] == "invalid_request"


def _params() -> dict[str, str]:
    from tests.idp.oauth import authorize_params

    return authorize_params("v" * 43)


def test_a_client_that_requires_dpop_gets_no_token_without_a_proof(idp, public_client, person, key):
    services.set_dpop_required(public_client, True)
    authorized = authorize(idp, person)
    refused = exchange(idp, authorized)
    assert refused.status_code == 400 and oauth_error(refused) == "invalid_dpop_proof"
    assert exchange(idp, authorized, **with_proof_for(key)).json()["token_type"] == "DPoP"


def test_seed_client_require_dpop_sets_and_clears_the_policy(db):
    call_command("seed_client", "--client-id", CLIENT_ID, "--require-dpop", stdout=StringIO())
    oidc_client = OIDCClient.objects.get(client_id=CLIENT_ID)
    assert services.requires_dpop(oidc_client)
    call_command("seed_client", "--client-id", CLIENT_ID, stdout=StringIO())  # left as it is
    assert services.requires_dpop(oidc_client)
    call_command("seed_client", "--client-id", CLIENT_ID, "--no-require-dpop", stdout=StringIO())
    assert not DPoPClientPolicy.objects.exists()


def test_a_confidential_clients_refresh_token_is_not_bound_to_the_key(idp, person, key):
    oidc_client = OIDCClient.objects.create(
        name="Server-side app",
        client_id="server-app",
        client_secret="s3cret-s3cret-s3cret",
        client_type="confidential",
        jwt_alg="RS256",
        _redirect_uris=REDIRECT_URI,
        _scope="openid offline_access",
    )
    oidc_client.response_types.set([services.response_type("code")])
    secret = {"client_id": "server-app", "client_secret": "s3cret-s3cret-s3cret"}
    authorized = authorize(idp, person, client_id="server-app", scope="openid offline_access")
    tokens = exchange(idp, authorized, **secret, **with_proof_for(key)).json()
    assert tokens["token_type"] == "DPoP" and Grant.objects.get().dpop_jkt == ""
    # Bound to the client's authentication instead (§5): a new key binds the new access token.
    new_key = ProofKey()
    again = refresh(idp, tokens["refresh_token"], **secret, **with_proof_for(new_key)).json()
    assert dpop_binding.bound_jkt(again["access_token"]) == new_key.jkt


def test_a_device_polled_with_a_proof_gets_tokens_of_a_bound_grant(idp, public_client, person):
    key = ProofKey()
    device = idp.post("/oidc/device_authorization", {"client_id": CLIENT_ID, "scope": "openid"})
    idp.force_login(person)
    idp.post("/device", {"user_code": device.json()["user_code"], "decision": "allow"})
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": device.json()["device_code"],
        "client_id": CLIENT_ID,
    }
    answer = idp.post("/oidc/token", poll, HTTP_DPOP=key.proof("POST", TOKEN_URL))
    assert answer.status_code == 200, answer.content
    assert answer.json()["token_type"] == "DPoP"
    assert Grant.objects.get().dpop_jkt == key.jkt


# --- server nonces (§8)


def test_with_nonces_on_a_proof_without_the_nonce_is_told_to_use_it(
    idp, public_client, person, key, settings
):
    settings.OIDC_DPOP_NONCE = True
    authorized = authorize(idp, person)
    asked = exchange(idp, authorized, **with_proof_for(key))
    assert asked.status_code == 400 and oauth_error(asked) == "use_dpop_nonce"
    nonce = asked["DPoP-Nonce"]
    retried = exchange(idp, authorized, HTTP_DPOP=key.proof("POST", TOKEN_URL, nonce=nonce))
    assert retried.status_code == 200, retried.content
    assert retried["DPoP-Nonce"]  # the next one to use


# --- userinfo (§7)


def test_userinfo_answers_a_dpop_token_with_a_proof_of_its_key(idp, public_client, person, key):
    access = bound_tokens(idp, person, key)["access_token"]
    answer = dpop_userinfo(idp, access, key.proof("GET", USERINFO_URL, access_token=access))
    assert answer.status_code == 200, answer.content
    assert answer.json()["sub"] == str(person.pk)


def test_userinfo_refuses_a_bound_token_sent_as_bearer(idp, public_client, person, key):
    access = bound_tokens(idp, person, key)["access_token"]
    answer = idp.get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


@pytest.mark.parametrize(
    "make_proof",
    [
        lambda key, access: None,
        lambda key, access: key.proof("GET", USERINFO_URL),  # no ath
        lambda key, access: key.proof("GET", USERINFO_URL, access_token="another token"),
        lambda key, access: key.proof("POST", USERINFO_URL, access_token=access),
        lambda key, access: ProofKey().proof("GET", USERINFO_URL, access_token=access),
    ],
    ids=["missing", "no-ath", "other-ath", "method", "other-key"],
)
def test_userinfo_refuses_a_mismatched_proof_with_a_dpop_challenge(
    idp, public_client, person, key, make_proof
):
    access = bound_tokens(idp, person, key)["access_token"]
    answer = dpop_userinfo(idp, access, make_proof(key, access))
    assert answer.status_code == 401
    challenge = answer["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="ES256 PS256 RS256 EdDSA"' in challenge


@pytest.mark.postgres
def test_userinfo_refuses_a_replayed_proof(idp, public_client, person, key):
    access = bound_tokens(idp, person, key)["access_token"]
    proof = key.proof("GET", USERINFO_URL, access_token=access)
    assert dpop_userinfo(idp, access, proof).status_code == 200
    replay = dpop_userinfo(idp, access, proof)
    assert replay.status_code == 401
    assert replay["WWW-Authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_userinfo_refuses_a_bearer_token_sent_as_dpop(idp, public_client, person, key):
    access = exchange(idp, authorize(idp, person)).json()["access_token"]
    answer = dpop_userinfo(idp, access, key.proof("GET", USERINFO_URL, access_token=access))
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_userinfo_asks_for_the_nonce_when_nonces_are_on(idp, public_client, person, key, settings):
    access = bound_tokens(idp, person, key)["access_token"]
    settings.OIDC_DPOP_NONCE = True
    asked = dpop_userinfo(idp, access, key.proof("GET", USERINFO_URL, access_token=access))
    assert asked.status_code == 401
    assert asked["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    proof = key.proof("GET", USERINFO_URL, access_token=access, nonce=asked["DPoP-Nonce"])
    assert dpop_userinfo(idp, access, proof).status_code == 200


# --- introspection, revocation, discovery, retention


@pytest.fixture
def resource_server(db):
    return services.seed_resource_server(
        "receiver-api", secret="rs-secret-rs-secret", audiences=(CLIENT_ID,)
    )


def introspect(idp, value: str) -> dict:
    answer = idp.post(
        "/oidc/introspect",
        {"token": value, "client_id": "receiver-api", "client_secret": "rs-secret-rs-secret"},
    )
    assert answer.status_code == 200
    return answer.json()


def test_introspection_names_a_bound_tokens_key(idp, public_client, person, key, resource_server):
    bound = introspect(idp, bound_tokens(idp, person, key)["access_token"])
    assert bound["active"] is True
    assert bound["token_type"] == "DPoP" and bound["cnf"] == {"jkt": key.jkt}
    bearer = introspect(idp, exchange(idp, authorize(idp, person)).json()["access_token"])
    assert bearer["active"] is True and "cnf" not in bearer and "token_type" not in bearer


def test_revocation_checks_a_proof_it_is_sent(idp, public_client, person, key):
    tokens = bound_tokens(idp, person, key)
    form = {"token": tokens["refresh_token"], "client_id": CLIENT_ID}
    bad = idp.post("/oidc/revoke", form, HTTP_DPOP=key.proof("POST", TOKEN_URL))
    assert bad.status_code == 400 and oauth_error(bad) == "invalid_dpop_proof"
    good = idp.post("/oidc/revoke", form, HTTP_DPOP=key.proof("POST", f"{SITE}/oidc/revoke"))
    assert good.status_code == 200
    assert Grant.objects.get().revoked_at is not None


def test_revocation_asks_for_the_nonce_with_the_nonce_when_nonces_are_on(
    idp, public_client, person, key, settings
):
    tokens = bound_tokens(idp, person, key)
    settings.OIDC_DPOP_NONCE = True
    form = {"token": tokens["refresh_token"], "client_id": CLIENT_ID}
    revoke_url = f"{SITE}/oidc/revoke"
    asked = idp.post("/oidc/revoke", form, HTTP_DPOP=key.proof("POST", revoke_url))
    assert asked.status_code == 400 and oauth_error(asked) == "use_dpop_nonce"
    proof = key.proof("POST", revoke_url, nonce=asked["DPoP-Nonce"])  # answerable only so
    assert idp.post("/oidc/revoke", form, HTTP_DPOP=proof).status_code == 200
    assert Grant.objects.get().revoked_at is not None


def test_discovery_lists_the_proof_algorithms(idp, settings):
    settings.OIDC_DPOP_SIGNING_ALGS = ("ES256", "HS256", "EdDSA")  # HS256 is never accepted
    meta = json.loads(idp.get("/oidc/.well-known/openid-configuration").content)
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]


def test_purge_forgets_proofs_past_their_window(db):
    now = timezone.now()
    DPoPProofUse.objects.create(jkt="k", jti="old", expires_at=now - timedelta(seconds=1))
    DPoPProofUse.objects.create(jkt="k", jti="live", expires_at=now + timedelta(seconds=60))
    lifetimes = retention.Lifetimes(*(timedelta(days=1),) * 6)
    assert retention.purge(now, lifetimes)["DPoP proof uses"] == 1
    assert list(DPoPProofUse.objects.values_list("jti", flat=True)) == ["live"]


# --- the binding itself


def test_only_a_well_formed_bound_value_names_a_key(key):
    bound = dpop_binding.bind_access_token("0123abcd" * 4, key.jkt)
    assert dpop_binding.bound_jkt(bound) == key.jkt
    assert dpop_binding.token_type(bound) == "DPoP"
    for value in ("0123abcd" * 4, "dpop.short.x", f"dpop.{key.jkt}x", f"dpop.{'!' * 43}.x"):
        assert dpop_binding.bound_jkt(value) is None


@pytest.mark.postgres
def test_a_refused_requests_proof_is_spent_too(idp, public_client, person, key):
    tokens = bound_tokens(idp, person, key)
    proof = key.proof("POST", TOKEN_URL)
    refused = refresh(idp, tokens["refresh_token"], scope="not-granted", HTTP_DPOP=proof)
    assert oauth_error(refused) == "invalid_scope"
    replay = refresh(idp, tokens["refresh_token"], HTTP_DPOP=proof)
    assert oauth_error(replay) == "invalid_dpop_proof"
