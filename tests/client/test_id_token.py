"""ID token checks: the signature against a JWKS (a local RSA key), then the claims (a clock)."""

import base64
import hashlib

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apps.client import oidc
from tests.client.stubs import StubHTTP, response
from tests.client.test_oidc import PROVIDER

NOW = 1_800_000_000.0
CLAIMS = {
    "iss": PROVIDER.issuer,
    "sub": "7",
    "aud": "cli-1",
    "exp": int(NOW) + 300,
    "iat": int(NOW),
    "nonce": "nonce-1",
}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


def jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


def sign(claims: dict, private_key, kid: str | None = "key-1", alg: str = "RS256") -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, private_key, algorithm=alg, headers=headers)


# --- signature


def test_a_token_signed_by_the_jwks_key_verifies(key):
    verified = oidc.verify_signature(sign(CLAIMS, key), {"keys": [jwk(key, "key-1")]})
    assert verified.claims == CLAIMS
    assert (verified.alg, verified.kid) == ("RS256", "key-1")


def test_a_token_signed_by_another_key_with_the_same_kid_fails(key):
    with pytest.raises(oidc.IDTokenError, match="signature check failed") as raised:
        oidc.verify_signature(sign(CLAIMS, new_key()), {"keys": [jwk(key, "key-1")]})
    assert raised.value.check == "signature"


def test_a_tampered_payload_fails(key):
    header, _, signature = sign(CLAIMS, key).split(".")
    forged = base64.urlsafe_b64encode(b'{"sub":"1","aud":"cli-1"}').rstrip(b"=").decode()
    with pytest.raises(oidc.IDTokenError, match="signature check failed"):
        oidc.verify_signature(f"{header}.{forged}.{signature}", {"keys": [jwk(key, "key-1")]})


def test_an_unsigned_token_is_refused(key):
    token = jwt.encode(CLAIMS, None, algorithm="none", headers={"kid": "key-1"})
    with pytest.raises(oidc.IDTokenError, match="alg check failed: the ID token is not signed"):
        oidc.verify_signature(token, {"keys": [jwk(key, "key-1")]})


def test_an_hs256_token_is_refused_as_forgeable_for_a_public_client(key):
    token = sign(CLAIMS, "a-shared-secret-of-at-least-32-bytes!", alg="HS256")
    with pytest.raises(oidc.IDTokenError, match="HS256.*anyone could have forged"):
        oidc.verify_signature(token, {"keys": [jwk(key, "key-1")]})


def test_garbage_is_not_a_jwt(key):
    with pytest.raises(oidc.IDTokenError, match="not a signed JWT"):
        oidc.verify_signature("not-a-jwt", {"keys": [jwk(key, "key-1")]})


def test_a_token_without_kid_uses_the_only_key_but_not_one_of_several(key):
    token = sign(CLAIMS, key, kid=None)
    assert oidc.verify_signature(token, {"keys": [jwk(key, "key-1")]}).claims == CLAIMS
    with pytest.raises(oidc.IDTokenError, match="kid check failed: .*several"):
        oidc.verify_signature(token, {"keys": [jwk(key, "key-1"), jwk(new_key(), "key-2")]})


def test_keys_for_other_uses_or_algorithms_are_not_candidates(key):
    encryption_key = {**jwk(key, "key-1"), "use": "enc"}
    with pytest.raises(oidc.UnknownKeyError):
        oidc.verify_signature(sign(CLAIMS, key), {"keys": [encryption_key]})


def test_an_unknown_kid_fetches_the_jwks_once_more(key):
    rotated = new_key()
    http = StubHTTP(
        {
            ("GET", PROVIDER.jwks_uri): [
                response(200, {"keys": [jwk(key, "key-1")]}),
                response(200, {"keys": [jwk(key, "key-1"), jwk(rotated, "key-2")]}),
            ]
        }
    )
    keys = oidc.SigningKeys(http, PROVIDER)
    assert keys.verify(sign(CLAIMS, key)).kid == "key-1"
    assert keys.verify(sign(CLAIMS, rotated, kid="key-2")).kid == "key-2"
    assert keys.verify(sign(CLAIMS, rotated, kid="key-2")).kid == "key-2"  # cached now
    assert http.count("GET", PROVIDER.jwks_uri) == 2


def test_a_kid_still_unknown_after_the_refetch_is_refused(key):
    http = StubHTTP({("GET", PROVIDER.jwks_uri): response(200, {"keys": [jwk(key, "key-1")]})})
    keys = oidc.SigningKeys(http, PROVIDER)
    keys.verify(sign(CLAIMS, key))
    with pytest.raises(oidc.UnknownKeyError, match="kid 'key-9'"):
        keys.verify(sign(CLAIMS, new_key(), kid="key-9"))
    assert http.count("GET", PROVIDER.jwks_uri) == 2


def test_a_fresh_jwks_is_not_fetched_twice_for_one_token(key):
    http = StubHTTP({("GET", PROVIDER.jwks_uri): response(200, {"keys": [jwk(key, "key-1")]})})
    with pytest.raises(oidc.UnknownKeyError):
        oidc.SigningKeys(http, PROVIDER).verify(sign(CLAIMS, new_key(), kid="key-9"))
    assert http.count("GET", PROVIDER.jwks_uri) == 1


# --- ES256, and keys that do not fit the token's alg


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ec_jwk(private_key: ec.EllipticCurvePrivateKey, kid: str) -> dict:
    public = jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "ES256", "use": "sig"}


def test_an_es256_token_signed_by_the_jwks_ec_key_verifies(key, ec_key):
    jwks = {"keys": [jwk(key, "rsa-1"), ec_jwk(ec_key, "ec-1")]}
    verified = oidc.verify_signature(sign(CLAIMS, ec_key, kid="ec-1", alg="ES256"), jwks)
    assert verified.claims == CLAIMS
    assert (verified.alg, verified.kid) == ("ES256", "ec-1")


def test_an_es256_token_signed_by_another_ec_key_fails(ec_key):
    token = sign(CLAIMS, ec.generate_private_key(ec.SECP256R1()), kid="ec-1", alg="ES256")
    with pytest.raises(oidc.IDTokenError, match="signature check failed"):
        oidc.verify_signature(token, {"keys": [ec_jwk(ec_key, "ec-1")]})


def test_a_token_without_kid_uses_the_only_key_of_its_type(key, ec_key):
    jwks = {"keys": [jwk(key, "rsa-1"), ec_jwk(ec_key, "ec-1")]}
    assert oidc.verify_signature(sign(CLAIMS, ec_key, kid=None, alg="ES256"), jwks).kid is None
    assert oidc.verify_signature(sign(CLAIMS, key, kid=None), jwks).claims == CLAIMS


def without_alg(key: dict) -> dict:
    return {name: value for name, value in key.items() if name != "alg"}


@pytest.mark.parametrize(
    ("alg", "make_jwk"),
    [
        ("ES256", lambda rsa_key, ec_key: jwk(rsa_key, "k")),
        ("ES256", lambda rsa_key, ec_key: without_alg(jwk(rsa_key, "k"))),
        ("RS256", lambda rsa_key, ec_key: ec_jwk(ec_key, "k")),
        ("RS256", lambda rsa_key, ec_key: without_alg(ec_jwk(ec_key, "k"))),
        ("ES256", lambda rsa_key, ec_key: {**ec_jwk(ec_key, "k"), "crv": "P-384"}),
        ("ES256", lambda rsa_key, ec_key: {**ec_jwk(ec_key, "k"), "alg": "ES384"}),
    ],
    ids=[
        "ES256 token, RSA key",
        "ES256 token, RSA key without alg",
        "RS256 token, EC key",
        "RS256 token, EC key without alg",
        "ES256 token, P-384 key",
        "ES256 token, key for ES384",
    ],
)
def test_a_key_whose_type_does_not_fit_the_tokens_alg_is_refused(key, ec_key, alg, make_jwk):
    signer = ec_key if alg == "ES256" else key
    token = sign(CLAIMS, signer, kid="k", alg=alg)
    with pytest.raises(oidc.IDTokenError, match=f"alg check failed: the token says {alg}"):
        oidc.verify_signature(token, {"keys": [make_jwk(key, ec_key)]})


def test_a_mismatched_key_is_not_a_reason_to_fetch_the_jwks_again(key, ec_key):
    http = StubHTTP({("GET", PROVIDER.jwks_uri): response(200, {"keys": [jwk(key, "k")]})})
    keys = oidc.SigningKeys(http, PROVIDER)
    keys.verify(sign(CLAIMS, key, kid="k"))
    with pytest.raises(oidc.IDTokenError, match="alg check failed"):
        keys.verify(sign(CLAIMS, ec_key, kid="k", alg="ES256"))
    assert http.count("GET", PROVIDER.jwks_uri) == 1


@pytest.mark.parametrize("alg", ["HS256", "none", "ES384", "PS256", "RS512"])
def test_only_rs256_and_es256_are_accepted_by_default(alg):
    header = base64.urlsafe_b64encode(f'{{"alg":"{alg}","kid":"k"}}'.encode()).rstrip(b"=")
    with pytest.raises(oidc.IDTokenError) as raised:
        oidc.verify_signature(f"{header.decode()}.e30.c2ln", {"keys": []})
    assert raised.value.check == "alg"


# --- claims (OIDC Core §3.1.3.7), with the clock passed in


def check(claims: dict, **options) -> None:
    settings = {"issuer": PROVIDER.issuer, "client_id": "cli-1", "nonce": "nonce-1", "now": NOW}
    oidc.check_id_token_claims(claims, **{**settings, **options})


def test_valid_claims_pass():
    check(CLAIMS)
    check({**CLAIMS, "aud": ["cli-1"], "azp": "cli-1"})
    check({**CLAIMS, "exp": NOW - 30})  # within the leeway
    check({**CLAIMS, "iat": NOW + 30})


@pytest.mark.parametrize(
    ("changes", "check_name"),
    [
        ({"iss": "https://evil.example/oidc"}, "iss"),
        ({"iss": None}, "iss"),
        ({"sub": None}, "sub"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": ["cli-1", "someone-else"]}, "aud"),
        ({"aud": None}, "aud"),
        ({"azp": "someone-else"}, "azp"),
        ({"exp": NOW - 61}, "exp"),
        ({"exp": None}, "exp"),
        ({"exp": "tomorrow"}, "exp"),
        ({"exp": True}, "exp"),
        ({"iat": NOW + 61}, "iat"),
        ({"iat": None}, "iat"),
        ({"nonce": "nonce-2"}, "nonce"),
        ({"nonce": None}, "nonce"),
    ],
)
def test_each_failed_check_is_named(changes, check_name):
    claims = {**CLAIMS, **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    with pytest.raises(oidc.IDTokenError) as raised:
        check(claims)
    assert raised.value.check == check_name
    assert f"{check_name} check failed" in str(raised.value)


def test_leeway_is_what_is_passed():
    with pytest.raises(oidc.IDTokenError, match="exp check failed: expired 30 s ago"):
        check({**CLAIMS, "exp": NOW - 30}, leeway=0)


def test_an_id_token_from_a_refresh_may_lack_the_nonce_but_must_keep_sub():
    refreshed = {name: value for name, value in CLAIMS.items() if name != "nonce"}
    check(refreshed, nonce_required=False, sub="7")
    with pytest.raises(oidc.IDTokenError, match="nonce check failed"):
        check({**refreshed, "nonce": "other"}, nonce_required=False, sub="7")
    with pytest.raises(oidc.IDTokenError, match="sub check failed"):
        check({**refreshed, "sub": "8"}, nonce_required=False, sub="7")


def test_at_hash_binds_the_access_token():
    digest = hashlib.sha256(b"access-1").digest()[:16]
    at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    oidc.check_at_hash({"at_hash": at_hash}, access_token="access-1", alg="RS256")
    oidc.check_at_hash({}, access_token="access-1", alg="RS256")  # optional in the code flow
    with pytest.raises(oidc.IDTokenError, match="at_hash check failed"):
        oidc.check_at_hash({"at_hash": at_hash}, access_token="access-2", alg="RS256")
    oidc.check_at_hash({"at_hash": at_hash}, access_token="access-1", alg="ES256")  # SHA-256 too


# --- all of it at once: what the client calls


def validate(token: str, jwks_key, **options) -> oidc.VerifiedToken:
    http = StubHTTP({("GET", PROVIDER.jwks_uri): response(200, {"keys": [jwk(jwks_key, "key-1")]})})
    arguments = {
        "issuer": PROVIDER.issuer,
        "client_id": "cli-1",
        "nonce": "nonce-1",
        "access_token": "access-1",
        "now": NOW,
        **options,
    }
    return oidc.validate_id_token(token, oidc.SigningKeys(http, PROVIDER), **arguments)


def test_validate_id_token_checks_signature_claims_and_at_hash(key):
    digest = hashlib.sha256(b"access-1").digest()[:16]
    at_hash = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    verified = validate(sign({**CLAIMS, "at_hash": at_hash}, key), key)
    assert verified.claims["sub"] == "7" and verified.alg == "RS256"
    with pytest.raises(oidc.IDTokenError, match="signature check failed"):
        validate(sign(CLAIMS, new_key()), key)
    with pytest.raises(oidc.IDTokenError, match="nonce check failed"):
        validate(sign(CLAIMS, key), key, nonce="another")
    with pytest.raises(oidc.IDTokenError, match="at_hash check failed"):
        validate(sign({**CLAIMS, "at_hash": at_hash}, key), key, access_token="access-2")


def test_validate_id_token_after_a_refresh_keeps_the_sub(key):
    refreshed = {name: value for name, value in CLAIMS.items() if name != "nonce"}
    assert validate(sign(refreshed, key), key, nonce_required=False, sub="7")
    with pytest.raises(oidc.IDTokenError, match="sub check failed"):
        validate(sign(refreshed, key), key, nonce_required=False, sub="8")


def test_a_token_refused_for_its_times_says_by_how_much_the_clocks_differ():
    with pytest.raises(oidc.IDTokenError, match=r"clock runs ahead of the IdP's by at least 90 s"):
        check({**CLAIMS, "exp": NOW - 90, "iat": NOW - 390})
    with pytest.raises(oidc.IDTokenError, match=r"clock is behind the IdP's by about 400 s"):
        check({**CLAIMS, "iat": NOW + 400, "exp": NOW + 700})
