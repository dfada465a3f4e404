"""apps.client.dpop and the requests that carry its proofs: checked by joserfc (an independent
JOSE library) and by the IdP's own validator, apps.idp.dpop; nonce retries with stub servers."""

import base64
import hashlib
import json

import pytest
from joserfc import jws
from joserfc.jwk import ECKey

from apps.client import oidc, resource
from apps.client.dpop import DPoPKey, access_token_hash, target_uri
from apps.client.run import RunSettings, resume
from apps.client.session import Clock
from apps.client.signin import SignedIn, sign_in
from apps.client.store import FileStore, StoredGrant
from apps.idp import dpop as idp_dpop
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal
from tests.client.test_oidc import ISSUER, META, RP

PROVIDER = oidc.Provider(**META, revocation_endpoint=f"{ISSUER}/revoke")
NOW = 1_700_000_000.0
API_URL = "https://mysrv.example:8444/api/profile"
TOKENS = {"access_token": "at-1", "token_type": "DPoP", "expires_in": 300, "id_token": "x.y.z"}


def fixed_key() -> DPoPKey:
    return DPoPKey.generate(clock=lambda: NOW)


def decode(proof: str) -> tuple[dict, dict]:
    """Header and claims of `proof`, its signature verified by joserfc with the embedded jwk."""
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    verified = jws.deserialize_compact(proof, ECKey.import_key(header["jwk"]), algorithms=["ES256"])
    return verified.headers(), json.loads(verified.payload)


def sent_proof(http: StubHTTP, index: int = -1) -> tuple[dict, dict]:
    return decode(http.calls[index][2]["headers"]["DPoP"])


# --- the proof itself (RFC 9449 §4.2)


def test_a_proof_is_a_dpop_jwt_with_only_the_public_key_and_the_request():
    key = fixed_key()
    header, claims = decode(key.proof("POST", "https://idp.example/oidc/token?x=1#frag"))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk}
    assert sorted(header["jwk"]) == ["crv", "kty", "x", "y"]  # no "d": nothing private
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://idp.example/oidc/token"  # no query, no fragment
    assert claims["iat"] == int(NOW)
    assert len(claims["jti"]) >= 16
    assert "ath" not in claims and "nonce" not in claims


def test_each_proof_has_its_own_jti():
    key = fixed_key()
    jtis = {decode(key.proof("GET", API_URL))[1]["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_a_resource_proof_carries_the_access_tokens_hash():
    _, claims = decode(fixed_key().proof("GET", API_URL, access_token="at-1"))
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"at-1").digest()).rstrip(b"=").decode()
    assert claims["ath"] == expected == access_token_hash("at-1")


def test_the_idps_validator_accepts_the_proofs_and_agrees_on_the_thumbprint():
    key = fixed_key()
    key.remember_nonce(API_URL, "nonce-1")
    proof = key.proof("GET", API_URL, access_token="at-1")
    checked = idp_dpop.validate_proof(
        proof, method="GET", url=API_URL, now=NOW, access_token="at-1", nonce="nonce-1"
    )
    assert checked.jkt == key.thumbprint == idp_dpop.jwk_thumbprint(key.public_jwk)
    with pytest.raises(idp_dpop.InvalidDPoPProof, match="ath"):
        idp_dpop.validate_proof(proof, method="GET", url=API_URL, now=NOW, access_token="at-2")


def test_a_nonce_is_sent_only_to_the_server_that_gave_it():
    key = fixed_key()
    key.remember_nonce("https://idp.example/oidc/token", "idp-nonce")
    assert decode(key.proof("POST", "https://idp.example/oidc/userinfo"))[1]["nonce"] == (
        "idp-nonce"  # one origin, one nonce (§8)
    )
    assert "nonce" not in decode(key.proof("GET", API_URL))[1]


def test_the_private_key_survives_a_round_trip_and_is_never_in_repr():
    key = fixed_key()
    private = key.private_jwk()
    assert "d" in private
    again = DPoPKey.from_private_jwk(private)
    assert again.thumbprint == key.thumbprint
    assert private["d"] not in repr(key)
    with pytest.raises(ValueError):
        DPoPKey.from_private_jwk(key.public_jwk)  # no private part
    with pytest.raises(ValueError):
        DPoPKey.from_private_jwk({"kty": "RSA"})


def test_target_uri_keeps_scheme_host_port_and_path():
    assert target_uri("https://h.example:8444/a/b?c#d") == "https://h.example:8444/a/b"
    assert target_uri("https://h.example") == "https://h.example/"


# --- the requests that carry proofs


def test_the_code_exchange_sends_a_proof_and_takes_a_dpop_token():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): response(200, TOKENS)})
    key = fixed_key()
    tokens = oidc.exchange_code(http, PROVIDER, RP, code="c", code_verifier="v", now=NOW, dpop=key)
    assert tokens.token_type == "DPoP" and tokens.dpop_bound
    header, claims = sent_proof(http)
    assert header["jwk"] == key.public_jwk
    assert (claims["htm"], claims["htu"]) == ("POST", PROVIDER.token_endpoint)
    assert "ath" not in claims
    assert "Authorization" not in http.calls[0][2]["headers"]


def test_use_dpop_nonce_at_the_token_endpoint_is_answered_once_with_the_nonce():
    refused = response(
        400,
        {"error": "use_dpop_nonce", "error_description": "Authorization server requires nonce"},
        headers={"DPoP-Nonce": "eyJ7S_zG.eyJH0-Z.HX4w-7v"},
    )
    http = StubHTTP({("POST", PROVIDER.token_endpoint): [refused, response(200, TOKENS)]})
    tokens = oidc.refresh(http, PROVIDER, RP, refresh_token="rt-1", now=NOW, dpop=fixed_key())
    assert tokens.access_token == "at-1"
    assert http.count("POST", PROVIDER.token_endpoint) == 2
    assert "nonce" not in sent_proof(http, 0)[1]
    first_jti = sent_proof(http, 0)[1]["jti"]
    retried = sent_proof(http, 1)[1]
    assert retried["nonce"] == "eyJ7S_zG.eyJH0-Z.HX4w-7v"
    assert retried["jti"] != first_jti  # a new proof, not the refused one again


def test_a_second_use_dpop_nonce_is_an_error_not_a_loop():
    refused = response(400, {"error": "use_dpop_nonce"}, headers={"DPoP-Nonce": "n"})
    http = StubHTTP({("POST", PROVIDER.token_endpoint): refused})
    with pytest.raises(oidc.OAuthError, match="use_dpop_nonce"):
        oidc.refresh(http, PROVIDER, RP, refresh_token="rt-1", now=NOW, dpop=fixed_key())
    assert http.count("POST", PROVIDER.token_endpoint) == 2


def test_the_resource_servers_nonce_challenge_is_answered_once():
    challenge = 'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce"'
    refused = response(401, headers={"WWW-Authenticate": challenge, "DPoP-Nonce": "rs-nonce"})
    ok = response(200, {"sub": "7", "scope": ["openid", "profile"], "client_id": "cli-1"})
    http = StubHTTP({("GET", API_URL): [refused, ok]})
    profile = resource.fetch_profile(http, API_URL, access_token="at-1", dpop=fixed_key())
    assert profile == resource.Profile(sub="7", scope=("openid", "profile"), client_id="cli-1")
    assert http.calls[1][2]["headers"]["Authorization"] == "DPoP at-1"
    claims = sent_proof(http, 1)[1]
    assert claims["nonce"] == "rs-nonce" and claims["ath"] == access_token_hash("at-1")


def test_userinfo_goes_as_dpop_with_a_proof_of_the_token():
    http = StubHTTP({("GET", PROVIDER.userinfo_endpoint): response(200, {"sub": "7"})})
    oidc.fetch_userinfo(http, PROVIDER, access_token="at-1", sub="7", dpop=fixed_key())
    headers = http.calls[0][2]["headers"]
    assert headers["Authorization"] == "DPoP at-1"
    claims = sent_proof(http)[1]
    assert (claims["htm"], claims["htu"]) == ("GET", PROVIDER.userinfo_endpoint)
    assert claims["ath"] == access_token_hash("at-1")


def test_revocation_carries_a_proof_of_the_key():
    http = StubHTTP({("POST", PROVIDER.revocation_endpoint): response(200)})
    key = fixed_key()
    oidc.revoke(http, PROVIDER, RP, token="rt-1", dpop=key)
    header, claims = sent_proof(http)
    assert header["jwk"] == key.public_jwk and claims["htu"] == PROVIDER.revocation_endpoint


def test_without_a_key_nothing_changes_bearer_and_no_proof():
    http = StubHTTP({("GET", API_URL): response(401, headers={"WWW-Authenticate": "Bearer"})})
    with pytest.raises(oidc.OIDCError):
        resource.fetch_profile(http, API_URL, access_token="at-1")
    headers = http.calls[0][2]["headers"]
    assert headers["Authorization"] == "Bearer at-1" and "DPoP" not in headers


def test_a_dpop_token_to_a_request_without_proof_is_refused():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): response(200, TOKENS)})
    with pytest.raises(oidc.OIDCError, match="DPoP token, but this request carried no proof"):
        oidc.exchange_code(http, PROVIDER, RP, code="c", code_verifier="v", now=NOW)


# --- the sign-in decides


def discovered(**changes) -> StubHTTP:
    meta = {**META, **changes}
    return StubHTTP({("GET", f"{ISSUER}/.well-known/openid-configuration"): response(200, meta)})


def signed_in_with(token_type: str):
    keys_given = []

    def method(http, provider, rp, dpop) -> SignedIn:
        keys_given.append(dpop)
        tokens = oidc.Tokens(access_token="at-1", expires_at=None, token_type=token_type)
        return SignedIn(tokens=tokens, nonce="n")

    return method, keys_given


def test_dpop_is_used_when_discovery_offers_es256():
    method, keys_given = signed_in_with("DPoP")
    terminal = RecordingTerminal()
    http = discovered(dpop_signing_alg_values_supported=["ES256", "PS256"])
    session = sign_in(http, ISSUER, RP, method, terminal)
    assert isinstance(keys_given[0], DPoPKey) and session.dpop is keys_given[0]
    assert f"thumbprint {session.dpop.thumbprint}" in terminal.stdout_text()


def test_no_dpop_without_es256_in_discovery_or_when_turned_off():
    method, keys_given = signed_in_with("Bearer")
    sign_in(discovered(), ISSUER, RP, method, RecordingTerminal())
    sign_in(
        discovered(dpop_signing_alg_values_supported=["PS256"]),
        ISSUER,
        RP,
        method,
        RecordingTerminal(),
    )
    terminal = RecordingTerminal()
    offered = discovered(dpop_signing_alg_values_supported=["ES256"])
    session = sign_in(offered, ISSUER, RP, method, terminal, dpop_wanted=False)
    assert keys_given == [None, None, None] and session.dpop is None
    assert "DPoP          off (--no-dpop)" in terminal.stdout_text()


def test_a_bearer_answer_to_a_proof_goes_on_with_bearer_and_says_so():
    method, keys_given = signed_in_with("Bearer")
    terminal = RecordingTerminal()
    http = discovered(dpop_signing_alg_values_supported=["ES256"])
    session = sign_in(http, ISSUER, RP, method, terminal)
    assert keys_given[0] is not None and session.dpop is None
    said = [line for line in terminal.stdout_text().splitlines() if "Bearer token" in line]
    assert said == [
        "[warning]The IdP answered the DPoP proof with a Bearer token (RFC 9449 §5): going on "
        "with Bearer tokens, not bound to the key."
    ]


# --- a kept sign-in (--remember) resumes with its key


def test_a_resumed_grant_refreshes_with_its_kept_key_and_keeps_it(tmp_path):
    key = fixed_key()
    kept = FileStore(tmp_path / "grants.json")
    grant = StoredGrant(
        issuer=ISSUER,
        client_id=RP.client_id,
        refresh_token="rt-0",
        sub="7",
        dpop_key=key.private_jwk(),
    )
    kept.save(grant)
    refreshed = {"access_token": "at-1", "refresh_token": "rt-1", "token_type": "DPoP"}
    http = StubHTTP(
        {
            ("GET", f"{ISSUER}/.well-known/openid-configuration"): response(200, META),
            ("POST", PROVIDER.token_endpoint): response(200, refreshed),
        }
    )
    settings = RunSettings(
        issuer=ISSUER, rp=RP, ca_file="ca.pem", interval=60.0, max_refreshes=None, remember=True
    )
    terminal = RecordingTerminal()
    session = resume(
        http, settings, kept, terminal, clock=Clock(now=lambda: NOW), retry_delays=lambda: iter(())
    )
    assert session is not None and session.dpop.thumbprint == key.thumbprint
    assert f"DPoP key {key.thumbprint})." in terminal.stdout_text()
    assert sent_proof(http)[0]["jwk"] == key.public_jwk
    again = kept.load(ISSUER, RP.client_id)
    assert again.refresh_token == "rt-1" and again.dpop_key == key.private_jwk()


def test_a_kept_key_that_is_no_key_ends_the_kept_sign_in(tmp_path):
    kept = FileStore(tmp_path / "grants.json")
    kept.save(StoredGrant(ISSUER, RP.client_id, "rt-0", "7", dpop_key={"kty": "EC"}))
    settings = RunSettings(
        issuer=ISSUER, rp=RP, ca_file="ca.pem", interval=60.0, max_refreshes=None, remember=True
    )
    terminal = RecordingTerminal()
    assert (
        resume(StubHTTP({}), settings, kept, terminal, clock=Clock(), retry_delays=lambda: iter(()))
        is None
    )
    assert kept.load(ISSUER, RP.client_id) is None
    assert "DPoP key kept with the sign-in is unusable" in terminal.stderr_text()
