"""The ID token: signature (the only code touching keys), claims (pure), then both at once.

`validate_id_token` is what a caller wants; the parts are public for their unit tests.
"""

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from apps.client.discovery import Provider
from apps.client.errors import IDTokenError, OIDCError, UnknownKeyError
from apps.client.text import to_printable
from apps.client.transport import answer, send

DEFAULT_LEEWAY_SECONDS = 60  # clock skew tolerated on exp and iat (OIDC Core §3.1.3.7)
# Public-key signatures only: a public client has no secret, so an HMAC-signed ID token
# (HS256) would be signed with a key anyone can know, and "none" is not signed at all.
DEFAULT_ALGORITHMS = ("RS256", "ES256")
SHA256_ALGORITHMS = {"RS256", "PS256", "ES256"}  # at_hash uses the alg's hash (§3.1.3.8)
# The JWK a signature of each alg needs: its kty, and for EC its curve (RFC 7518 §3.3, §3.4).
# A key of another type is never tried, whatever its kid: no key confusion across algs.
KEY_TYPES = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}
# Signature only: the claims get check_id_token_claims, which names each check.
_SIGNATURE_ONLY = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "require": [],
}


@dataclass(frozen=True)
class VerifiedToken:
    """A JWT whose signature checked out; its claims are not checked yet."""

    claims: dict[str, Any]
    alg: str
    kid: str | None


def fetch_jwks(http: requests.Session, provider: Provider) -> dict[str, Any]:
    jwks = answer(send(http, "GET", provider.jwks_uri), "the JWKS endpoint")
    if not isinstance(jwks.get("keys"), list):
        raise OIDCError("the JWKS has no list of keys")
    return jwks


def _fits(key: dict[str, Any], alg: str) -> bool:
    """Whether a JWK can check an `alg` signature: its kty (and crv), and its alg if it says."""
    kty, crv = KEY_TYPES.get(alg, (None, None))
    return (
        kty is not None
        and key.get("kty") == kty
        and (crv is None or key.get("crv") == crv)
        and key.get("alg", alg) == alg
    )


def _pick_key(jwks: dict[str, Any], *, kid: str | None, alg: str) -> dict[str, Any]:
    named = [
        key
        for key in jwks.get("keys", [])
        if isinstance(key, dict)
        and key.get("use", "sig") == "sig"
        and (kid is None or key.get("kid") == kid)
    ]
    candidates = [key for key in named if _fits(key, alg)]
    if kid is None and len(candidates) > 1:
        raise IDTokenError("kid", "the token names no key and the JWKS holds several")
    if not candidates and kid is not None and named:
        kind = " ".join(str(named[0][name]) for name in ("kty", "crv", "alg") if name in named[0])
        raise IDTokenError(
            "alg",
            f"the token says {alg}, but its key {to_printable(kid)!r} is not for {alg} "
            f"({to_printable(kind or 'no kty')})",
        )
    if not candidates:
        raise UnknownKeyError("kid", f"no {alg} signing key with kid {kid!r} in the JWKS")
    return candidates[0]


def _accepted_alg(header: dict[str, Any], algorithms: Sequence[str]) -> str:
    alg = header.get("alg")
    if alg in algorithms:
        return alg
    if alg == "HS256":
        raise IDTokenError(
            "alg",
            "the ID token is signed with HS256, an HMAC keyed with the client secret; a "
            "public client has none, so anyone could have forged this token. Refusing it: "
            "set the client's JWT algorithm to RS256 or ES256 at the IdP",
        )
    if str(alg).lower() == "none":
        raise IDTokenError("alg", "the ID token is not signed (alg none)")
    raise IDTokenError("alg", f"signed with {to_printable(str(alg))}, expected {algorithms}")


def verify_signature(
    token: str, jwks: dict[str, Any], *, algorithms: Sequence[str] = DEFAULT_ALGORITHMS
) -> VerifiedToken:
    """Check a JWS against a JWKS with PyJWT; claims are returned unchecked.

    Only `algorithms` are accepted: "none" and HS256 are refused by default.
    Raises UnknownKeyError when the kid is not in `jwks` (the caller may re-fetch once).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise IDTokenError("signature", f"not a signed JWT ({exc})") from exc
    alg = _accepted_alg(header, algorithms)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IDTokenError("kid", "the token's kid is not a string")
    key = _pick_key(jwks, kid=kid, alg=alg)
    try:
        public_key = jwt.PyJWK(key, algorithm=alg).key
        claims = jwt.decode(token, key=public_key, algorithms=[alg], options=_SIGNATURE_ONLY)
    except jwt.InvalidSignatureError as exc:
        raise IDTokenError("signature", f"does not verify with key {kid!r}") from exc
    except jwt.PyJWKError as exc:
        raise IDTokenError("signature", f"unusable key {kid!r} in the JWKS ({exc})") from exc
    except jwt.InvalidTokenError as exc:
        raise IDTokenError("signature", f"malformed token ({exc})") from exc
    return VerifiedToken(claims=claims, alg=alg, kid=kid)


class SigningKeys:
    """The IdP's JWKS, fetched on first use and once more when a token names an unknown kid."""

    def __init__(self, http: requests.Session, provider: Provider) -> None:
        self._http = http
        self._provider = provider
        self._jwks: dict[str, Any] | None = None
        self.fetches = 0

    def _fetch(self) -> dict[str, Any]:
        self.fetches += 1
        self._jwks = fetch_jwks(self._http, self._provider)
        return self._jwks

    def verify(
        self, token: str, *, algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    ) -> VerifiedToken:
        fresh = self._jwks is None
        jwks = self._fetch() if fresh else self._jwks
        try:
            return verify_signature(token, jwks, algorithms=algorithms)
        except UnknownKeyError:
            if fresh:
                raise
            # Keys rotate: one fresh look at the JWKS, never a loop (OIDC Core §10.1.1).
            return verify_signature(token, self._fetch(), algorithms=algorithms)


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IDTokenError(name, f"{name} is missing or not a number")
    return value


def _check_audience(claims: dict[str, Any], client_id: str) -> None:
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise IDTokenError("aud", f"audience {audience!r} does not include {client_id!r}")
    if len(audiences) > 1:
        others = sorted(str(value) for value in audiences if value != client_id)
        raise IDTokenError("aud", f"also meant for {others}, which this client does not trust")
    if "azp" in claims and claims["azp"] != client_id:
        raise IDTokenError("azp", f"authorized party {claims['azp']!r} is not {client_id!r}")


def check_id_token_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    nonce_required: bool = True,
    sub: str | None = None,
) -> None:
    """OIDC Core §3.1.3.7 steps 2-5 and 9-11 on already signature-checked claims.

    `now` is seconds since the epoch; `nonce` is the one the authorization request sent.
    For an ID token from a refresh (§12.2) pass `nonce_required=False` (a nonce may be
    absent, but if present must match) and the first ID token's `sub`, which must not
    change. Raises IDTokenError naming the check that failed.
    """
    if claims.get("iss") != issuer:
        raise IDTokenError("iss", f"issuer {claims.get('iss')!r} is not {issuer!r}")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IDTokenError("sub", "sub is missing")
    if sub is not None and claims["sub"] != sub:
        raise IDTokenError("sub", f"sub {claims['sub']!r} differs from the first ID token's")
    _check_audience(claims, client_id)
    if now >= _number(claims, "exp") + leeway:
        late = int(now - claims["exp"])
        raise IDTokenError(
            "exp",
            f"expired {late} s ago by this computer's clock: the IdP just issued it, so this "
            f"clock runs ahead of the IdP's by at least {late} s (more than the {leeway:g} s "
            "allowed); set it right (NTP)",
        )
    if _number(claims, "iat") > now + leeway:
        raise IDTokenError(
            "iat",
            f"issued {int(claims['iat'] - now)} s in the future: this computer's clock is "
            f"behind the IdP's by about {int(claims['iat'] - now)} s (more than the "
            f"{leeway:g} s allowed); set it right (NTP)",
        )
    if nonce_required or "nonce" in claims:
        if claims.get("nonce") != nonce:
            raise IDTokenError("nonce", "nonce does not match the one this client sent")


def check_at_hash(claims: dict[str, Any], *, access_token: str, alg: str) -> None:
    """OIDC Core §3.1.3.8: when the ID token has at_hash, it must match the access token."""
    if "at_hash" not in claims:
        return
    if alg not in SHA256_ALGORITHMS:
        raise IDTokenError("at_hash", f"cannot check at_hash for {alg}")
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
    if claims["at_hash"] != expected:
        raise IDTokenError("at_hash", "at_hash does not match the access token")


def validate_id_token(
    id_token: str,
    keys: SigningKeys,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str,
    now: float,
    nonce_required: bool = True,
    sub: str | None = None,
) -> VerifiedToken:
    """An ID token checked in full: signature, claims (§3.1.3.7), at_hash (§3.1.3.8).

    For one from a refresh (§12.2) pass `nonce_required=False` and the first token's `sub`.
    """
    verified = keys.verify(id_token)
    check_id_token_claims(
        verified.claims,
        issuer=issuer,
        client_id=client_id,
        nonce=nonce,
        nonce_required=nonce_required,
        sub=sub,
        now=now,
    )
    check_at_hash(verified.claims, access_token=access_token, alg=verified.alg)
    return verified
