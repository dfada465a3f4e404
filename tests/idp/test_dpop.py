"""apps.idp.dpop: RFC 9449 §4.3 proof checks and RFC 7638 thumbprints, with our own keys."""

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from apps.idp import dpop

NOW = 1_562_262_616.0  # RFC 9449 §4.1's example iat
TOKEN_URL = "https://server.example.com/token"
RESOURCE_URL = "https://resource.example.org/protectedresource"
ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"  # RFC 9449 §7.1's example

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def public_jwk(private_key) -> dict:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    if isinstance(private_key, rsa.RSAPrivateKey):
        return RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)


def private_jwk(private_key) -> dict:
    return ECAlgorithm.to_jwk(private_key, as_dict=True)


def claims(**changes) -> dict:
    # The shape of RFC 9449 §4.1's example payload.
    values = {"jti": "-BwC3ESc6acc2lTc", "htm": "POST", "htu": TOKEN_URL, "iat": NOW}
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def make_proof(payload=None, *, key=EC_KEY, alg="ES256", jwk=None, **header) -> str:
    headers = {"typ": "dpop+jwt", "jwk": public_jwk(key) if jwk is None else jwk, **header}
    headers = {name: value for name, value in headers.items() if value is not None}
    return jwt.encode(claims() if payload is None else payload, key, algorithm=alg, headers=headers)


def validate(proof: str, **options):
    arguments = {"method": "POST", "url": TOKEN_URL, "now": NOW, **options}
    return dpop.validate_proof(proof, **arguments)


def b64json(value) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- RFC 7638


def test_rfc7638_example_thumbprint():
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhA"
        "I4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert dpop.jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_thumbprint_ignores_optional_members_and_their_order():
    jwk = public_jwk(EC_KEY)
    reordered = {"y": jwk["y"], "x": jwk["x"], "kty": "EC", "crv": "P-256", "kid": "k1"}
    assert dpop.jwk_thumbprint(reordered) == dpop.jwk_thumbprint(jwk)


# --- proofs that pass


@pytest.mark.parametrize(
    ("key", "alg"),
    [(EC_KEY, "ES256"), (RSA_KEY, "RS256"), (RSA_KEY, "PS256"), (ED_KEY, "EdDSA")],
)
def test_a_token_request_proof_passes_and_names_its_key(key, alg):
    proof = validate(make_proof(key=key, alg=alg))
    assert proof.jkt == dpop.jwk_thumbprint(public_jwk(key))
    assert proof.jti == "-BwC3ESc6acc2lTc"
    assert proof.iat == NOW
    assert proof.expires_at == NOW + dpop.MAX_AGE_SECONDS + dpop.LEEWAY_SECONDS


def test_a_resource_request_proof_with_ath_passes():
    payload = claims(
        htm="GET",
        htu=RESOURCE_URL,
        ath=dpop.access_token_hash(ACCESS_TOKEN),
        jti="e1j3V_bKic8-LAEB",
    )
    proof = validate(make_proof(payload), method="GET", url=RESOURCE_URL, access_token=ACCESS_TOKEN)
    assert proof.jti == "e1j3V_bKic8-LAEB"


def test_ath_is_base64url_of_the_sha256_of_the_token():
    # RFC 9449 §7.1 gives this token's ath in its example proof.
    assert dpop.access_token_hash(ACCESS_TOKEN) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@pytest.mark.parametrize(
    "request_url",
    [
        "https://server.example.com/token?x=1#frag",  # query and fragment are ignored
        "HTTPS://Server.Example.COM:443/token",  # scheme, host case and the default port
        "https://server.example.com/a/../token",  # dot segments
        "https://server.example.com/%74oken",  # percent-encoded unreserved characters
    ],
)
def test_htu_matches_after_normalisation(request_url):
    assert validate(make_proof(), url=request_url).jti


def test_a_required_nonce_that_matches_passes():
    assert validate(
        make_proof(claims(nonce="eyJ7S_zG.eyJH0-Z.HX4w-7v")), nonce="eyJ7S_zG.eyJH0-Z.HX4w-7v"
    )


def test_iat_within_the_window_passes():
    assert validate(make_proof(claims(iat=NOW - dpop.MAX_AGE_SECONDS)))
    assert validate(make_proof(claims(iat=NOW + dpop.LEEWAY_SECONDS)))


# --- each rule of §4.3, refused


def refused(proof: str, **options) -> str:
    with pytest.raises(dpop.InvalidDPoPProof) as refusal:
        validate(proof, **options)
    return refusal.value.reason


def test_not_one_jwt_is_refused():
    assert "compact JWS" in refused("a.b")
    assert "compact JWS" in refused(make_proof() + "." + make_proof())
    assert refused("")


def test_another_typ_is_refused():
    assert "typ" in refused(make_proof(typ="JWT"))
    assert "typ" in refused(make_proof(typ=None))


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_symmetric_or_no_algorithm_is_refused(alg):
    header = b64json({"typ": "dpop+jwt", "alg": alg, "jwk": {"kty": "oct", "k": "c2VjcmV0"}})
    unsigned = f"{header}.{b64json(claims())}."
    assert "alg" in refused(unsigned)
    hs = jwt.encode(
        claims(),
        "a-secret-of-at-least-32-bytes-long!",
        algorithm="HS256",
        headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "c2VjcmV0"}},
    )
    assert "alg" in refused(hs)


def test_an_algorithm_outside_the_allow_list_is_refused():
    assert "alg" in refused(make_proof(key=RSA_KEY, alg="RS256"), allowed_algs=("ES256",))
    assert "alg" in refused(make_proof(key=RSA_KEY, alg="RS384"))


def test_a_private_jwk_is_refused():
    assert "private" in refused(make_proof(jwk=private_jwk(EC_KEY)))


def test_no_jwk_or_a_jwk_of_the_wrong_kind_is_refused():
    assert "jwk" in refused(make_proof(jwk={}))
    assert refused(make_proof(jwk="not-an-object"))
    assert "cannot sign" in refused(make_proof(jwk=public_jwk(RSA_KEY)))  # ES256 with RSA
    p384 = public_jwk(ec.generate_private_key(ec.SECP384R1()))
    assert "P-256" in refused(make_proof(jwk=p384))


def test_a_short_rsa_key_is_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point)
    assert "bits" in refused(make_proof(key=small, alg="RS256"))


def test_a_signature_by_another_key_is_refused():
    other = ec.generate_private_key(ec.SECP256R1())
    assert "signature" in refused(make_proof(key=other, jwk=public_jwk(EC_KEY)))


def test_a_tampered_payload_is_refused():
    header, _, signature = make_proof().split(".")
    assert "signature" in refused(f"{header}.{b64json(claims(htm='GET'))}.{signature}")


@pytest.mark.parametrize("missing", ["jti", "htm", "htu", "iat"])
def test_each_required_claim_is_required(missing):
    assert missing in refused(make_proof(claims(**{missing: None})))


@pytest.mark.parametrize("bad_iat", ["1562262616", True, None])
def test_iat_must_be_a_number(bad_iat):
    payload = claims()
    payload["iat"] = bad_iat
    assert "iat" in refused(make_proof(payload))


def test_another_method_is_refused():
    assert "htm" in refused(make_proof(), method="GET")
    assert "htm" in refused(make_proof(claims(htm="post")))


@pytest.mark.parametrize(
    "request_url",
    [
        "https://server.example.com/token/",
        "https://server.example.com/other",
        "http://server.example.com/token",
        "https://server.example.com:8443/token",
        "https://other.example.com/token",
    ],
)
def test_another_url_is_refused(request_url):
    assert "htu" in refused(make_proof(), url=request_url)


def test_a_htu_that_is_no_url_is_refused():
    assert "htu" in refused(make_proof(claims(htu="/token")))
    assert "htu" in refused(make_proof(claims(htu="https://user@server.example.com/token")))


def test_a_missing_or_other_nonce_asks_for_the_nonce():
    with pytest.raises(dpop.UseDPoPNonce):
        validate(make_proof(), nonce="n-1")
    with pytest.raises(dpop.UseDPoPNonce):
        validate(make_proof(claims(nonce="n-0")), nonce="n-1")


def test_a_stale_or_future_proof_is_refused():
    stale = NOW - dpop.MAX_AGE_SECONDS - dpop.LEEWAY_SECONDS - 1
    assert "old" in refused(make_proof(claims(iat=stale)))
    assert "future" in refused(make_proof(claims(iat=NOW + dpop.LEEWAY_SECONDS + 1)))


def test_ath_is_required_with_an_access_token_and_must_match():
    assert "ath" in refused(make_proof(), access_token=ACCESS_TOKEN)
    wrong = make_proof(claims(ath=dpop.access_token_hash("another token")))
    assert "ath" in refused(wrong, access_token=ACCESS_TOKEN)
    assert "ath" in refused(make_proof(claims(ath="é")), access_token=ACCESS_TOKEN)


def test_jws_extensions_are_refused():
    # PyJWT refuses an unknown `crit` while parsing; ours would refuse any that got through.
    assert refused(make_proof(crit=["exp"]))


# --- malformed input: only ever InvalidDPoPProof

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
header_members = st.fixed_dictionaries(
    {},
    optional={
        "typ": st.sampled_from(["dpop+jwt", "JWT"]) | json_values,
        "alg": st.sampled_from(["ES256", "RS256", "PS256", "EdDSA", "HS256", "none"]) | json_values,
        "jwk": st.sampled_from([public_jwk(EC_KEY), public_jwk(RSA_KEY), public_jwk(ED_KEY)])
        | st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "n", "e", "d"]), json_values)
        | json_values,
        "crit": json_values,
    },
)
segments = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.", max_size=60
)


def checked(proof: str) -> None:
    try:
        validate(proof)
    except dpop.InvalidDPoPProof:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | segments)
def test_any_text_is_only_ever_an_invalid_proof(text):
    checked(text)


@settings(max_examples=300, deadline=None)
@given(header_members, json_values, segments)
def test_any_header_and_payload_is_only_ever_an_invalid_proof(header, payload, signature):
    checked(f"{b64json(header)}.{b64json(payload)}.{signature}")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["jti", "htm", "htu", "iat", "ath", "nonce"]), json_values))
def test_signed_proofs_with_any_claims_are_only_ever_invalid_or_valid(payload):
    checked(make_proof(payload))


# --- an independent JOSE implementation signs, we verify

joserfc = pytest.importorskip("joserfc")


@pytest.mark.parametrize(
    ("kind", "curve", "alg"), [("EC", "P-256", "ES256"), ("OKP", "Ed25519", "EdDSA")]
)
def test_a_proof_signed_by_joserfc_passes_with_joserfcs_thumbprint(kind, curve, alg):
    from joserfc import jwk
    from joserfc import jwt as joserfc_jwt

    key = (jwk.ECKey if kind == "EC" else jwk.OKPKey).generate_key(curve)
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    proof = joserfc_jwt.encode(header, claims(), key, algorithms=[alg])
    assert validate(proof).jkt == key.thumbprint()
