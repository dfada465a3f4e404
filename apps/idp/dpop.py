"""DPoP proof validation (RFC 9449 §4.3) and JWK thumbprints (RFC 7638). No Django, no I/O.

`validate_proof` makes every check of §4.3 that needs only the proof and the request; the
caller keeps what needs state: one `DPoP` header per request (step 1), the jti not seen
before (§11.1, apps/idp/dpop_replay.py), the nonce it handed out, and, at a protected
resource, that the access token is bound to the returned `jkt` (step 12).
"""

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

PROOF_TYPE = "dpop+jwt"
# Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037) that PyJWT verifies. `none` and HS*
# are never accepted: a MAC key in a header proves nothing (§4.2 "MUST NOT be none or an
# identifier for a symmetric algorithm").
ASYMMETRIC_ALGORITHMS = {
    "ES256": "P-256",
    "ES384": "P-384",
    "ES512": "P-521",
    "RS256": None,
    "RS384": None,
    "RS512": None,
    "PS256": None,
    "PS384": None,
    "PS512": None,
    "EdDSA": None,
}
DEFAULT_ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")
_KEY_TYPES = {"ES": "EC", "RS": "RSA", "PS": "RSA", "Ed": "OKP"}
_OKP_CURVES = ("Ed25519", "Ed448")
MIN_RSA_BITS = 2048
MAX_AGE_SECONDS = 60  # how old a proof may be: it is meant for one request, now (§11.1)
LEEWAY_SECONDS = 10  # clocks of client and server disagree by this much
MAX_PROOF_LENGTH = 8192  # a header this long is no proof of ours to parse
MAX_JTI_LENGTH = 200  # DPoPProofUse.jti's column

# Members that only a private key has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# What RFC 7638 §3.2 hashes, per key type.
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}


class InvalidDPoPProof(Exception):
    """The proof fails a check of RFC 9449 §4.3: answer `invalid_dpop_proof` (§7.1)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UseDPoPNonce(InvalidDPoPProof):
    """The proof lacks the server's current nonce: answer `use_dpop_nonce` with a new one (§8)."""


@dataclass(frozen=True)
class Proof:
    jkt: str  # the proof key's RFC 7638 thumbprint: what a token is bound to (cnf.jkt, §6.1)
    jti: str
    iat: float
    expires_at: float  # after this no check accepts it: how long its jti must be remembered


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The `ath` claim for `access_token` (§4.2): base64url of its SHA-256."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")


def is_thumbprint(value: str) -> bool:
    """Could `value` be an RFC 7638 SHA-256 thumbprint, base64url without padding (§10)?"""
    return bool(_THUMBPRINT.fullmatch(value))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the key's required members, as sorted, spaceless JSON."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise InvalidDPoPProof(f"unsupported key type {jwk.get('kty')!r}")
    try:
        required = {name: jwk[name] for name in members}
    except KeyError as missing:
        raise InvalidDPoPProof(f"the jwk lacks {missing}") from None
    if not all(isinstance(value, str) for value in required.values()):
        raise InvalidDPoPProof("the jwk's members must be strings")
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


_PERCENT_ENCODED = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _normalise_percent_encoding(path: str) -> str:
    # RFC 3986 §6.2.2.1-2: hex digits upper case, unreserved characters decoded.
    def one(match: re.Match) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _PERCENT_ENCODED.sub(one, path)


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, on a path that starts with "/".
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    trailing = path.endswith(("/.", "/.."))
    return "/" + "/".join(output) + ("/" if trailing and output else "")


def normalise_htu(url: str) -> str:
    """`url` without query and fragment, after RFC 3986 §6.2.2-3 normalisation (§4.3 step 9)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidDPoPProof(f"htu is not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidDPoPProof("htu must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise InvalidDPoPProof("htu must not carry user information")
    host = parts.hostname.lower()  # urlsplit keeps IPv6 brackets off hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_normalise_percent_encoding(parts.path or "/"))
    return urlunsplit((scheme, netloc, path, "", ""))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header(proof: str) -> dict[str, Any]:
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_LENGTH:
        raise InvalidDPoPProof("the proof is not a JWT of a sensible size")
    if proof.count(".") != 2:
        raise InvalidDPoPProof("the proof is not one compact JWS")
    try:
        header = jwt.get_unverified_header(proof)
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidDPoPProof(f"the proof's header is malformed: {exc}") from None
    if not isinstance(header, dict):
        raise InvalidDPoPProof("the proof's header is not a JSON object")
    return header


def _public_key(header: dict[str, Any], alg: str) -> tuple[Any, dict[str, Any]]:
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof("the proof's header has no jwk object")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidDPoPProof("the jwk is a private key")
    kty = jwk.get("kty")
    if kty != _KEY_TYPES[alg[:2]]:
        raise InvalidDPoPProof(f"a jwk of kty {kty!r} cannot sign {alg}")
    curve = ASYMMETRIC_ALGORITHMS[alg]
    if curve is not None and jwk.get("crv") != curve:
        raise InvalidDPoPProof(f"{alg} needs a {curve} key")
    if kty == "OKP" and jwk.get("crv") not in _OKP_CURVES:
        raise InvalidDPoPProof("EdDSA needs an Ed25519 or Ed448 key")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidDPoPProof(f"the jwk is not a usable public key: {exc}") from None
    if kty == "RSA" and key.key_size < MIN_RSA_BITS:
        raise InvalidDPoPProof(f"RSA keys need at least {MIN_RSA_BITS} bits")
    return key, jwk


def _verified_claims(proof: str, key: Any, alg: str) -> dict[str, Any]:
    try:
        payload = jwt.PyJWS().decode(proof, key=key, algorithms=[alg])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidDPoPProof(f"the proof's signature does not verify: {exc}") from None
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidDPoPProof("the proof's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("the proof's payload is not a JSON object")
    return claims


def validate_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    access_token: str | None = None,
    nonce: str | Collection[str] | None = None,
    allowed_algs: tuple[str, ...] = DEFAULT_ALGORITHMS,
    max_age: float = MAX_AGE_SECONDS,
    leeway: float = LEEWAY_SECONDS,
) -> Proof:
    """Check `proof` (the DPoP header's value) against the request it came with (§4.3).

    `url` is the request's URL as the server knows it; `access_token` the one sent with it, if
    any (its `ath` is then required); `nonce` the one the server requires, if any, or the
    nonces it accepts (the current one and the one before it, say).
    """
    nonces = (nonce,) if isinstance(nonce, str) else nonce
    header = _header(proof)  # step 2
    if header.get("typ") != PROOF_TYPE:  # step 4
        raise InvalidDPoPProof(f"typ must be {PROOF_TYPE}")
    alg = header.get("alg")  # step 5
    if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS or alg not in allowed_algs:
        raise InvalidDPoPProof(f"alg {alg!r} is not accepted")
    if "crit" in header or "b64" in header:
        raise InvalidDPoPProof("the proof uses JWS extensions this server does not know")
    key, jwk = _public_key(header, alg)  # step 7
    claims = _verified_claims(proof, key, alg)  # step 6

    for name in ("jti", "htm", "htu"):  # step 3
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise InvalidDPoPProof(f"the proof's {name} is missing or not a string")
    if len(claims["jti"]) > MAX_JTI_LENGTH:
        raise InvalidDPoPProof("the proof's jti is too long")
    iat = claims.get("iat")
    if not _is_number(iat):
        raise InvalidDPoPProof("the proof's iat is missing or not a number")

    if claims["htm"] != method:  # step 8
        raise InvalidDPoPProof(f"htm {claims['htm']!r} is not this request's method")
    if normalise_htu(claims["htu"]) != normalise_htu(url):  # step 9
        raise InvalidDPoPProof("htu is not this request's URL")
    sent_nonce = claims.get("nonce")
    if nonces is not None and not (isinstance(sent_nonce, str) and sent_nonce in nonces):
        raise UseDPoPNonce("the proof lacks the server's current nonce")  # step 10
    if iat < now - max_age - leeway:  # step 11
        raise InvalidDPoPProof("the proof is too old")
    if iat > now + leeway:
        raise InvalidDPoPProof("the proof is from the future")
    if access_token is not None:  # step 12, first half
        ath = claims.get("ath")
        try:
            expected = access_token_hash(access_token)
        except UnicodeEncodeError:
            raise InvalidDPoPProof("the access token is not ASCII") from None
        if not isinstance(ath, str) or not ath.isascii() or not hmac.compare_digest(ath, expected):
            raise InvalidDPoPProof("ath does not match the access token")

    return Proof(
        jkt=jwk_thumbprint(jwk),
        jti=claims["jti"],
        iat=float(iat),
        expires_at=float(iat) + max_age + leeway,
    )
