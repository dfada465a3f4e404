"""DPoP proofs (RFC 9449 §4) for the client's requests, with one P-256 key per sign-in. No Django.

The IdP binds the tokens to this key's thumbprint; every request that uses them carries a
fresh proof signed by it. A server may ask for a nonce (§8): the latest each server gave is
kept here and put in the next proof for that server.
"""

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

PROOF_TYPE = "dpop+jwt"
ALGORITHM = "ES256"  # P-256: small proofs, fast to make, and every DPoP server accepts it
NONCE_HEADER = "DPoP-Nonce"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """The `ath` claim (§4.2): base64url of the SHA-256 of the access token's ASCII."""
    return b64url(hashlib.sha256(access_token.encode("utf-8")).digest())  # ASCII for real tokens


def target_uri(url: str) -> str:
    """`htu` (§4.2): the request's URL without query and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class DPoPKey:
    """A sign-in's proof key; `nonces` holds the latest DPoP-Nonce of each server (origin)."""

    def __init__(
        self, private_key: ec.EllipticCurvePrivateKey, *, clock: Callable[[], float] = time.time
    ) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("a DPoP key of this client is a P-256 key")
        self._private_key = private_key
        self._clock = clock
        public = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        # Only the members RFC 7518 §6.2.1 defines: nothing private, nothing extra.
        self.public_jwk: dict[str, str] = {name: public[name] for name in ("kty", "crv", "x", "y")}
        self.nonces: dict[str, str] = {}

    @classmethod
    def generate(cls, *, clock: Callable[[], float] = time.time) -> "DPoPKey":
        return cls(ec.generate_private_key(ec.SECP256R1()), clock=clock)

    @classmethod
    def from_private_jwk(
        cls, jwk: dict[str, Any], *, clock: Callable[[], float] = time.time
    ) -> "DPoPKey":
        """The key `private_jwk()` gave; ValueError if `jwk` is no P-256 private key."""
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise ValueError("not a P-256 JWK")
        try:
            key = ECAlgorithm.from_jwk(json.dumps(jwk))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a usable JWK: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the JWK holds no private key")
        return cls(key, clock=clock)

    def private_jwk(self) -> dict[str, str]:
        """The whole key as a JWK, `d` included: for the grant store, and nothing else."""
        return ECAlgorithm.to_jwk(self._private_key, as_dict=True)

    @property
    def thumbprint(self) -> str:
        """RFC 7638: what the IdP binds the tokens to (`cnf.jkt`, §6.1)."""
        required = {name: self.public_jwk[name] for name in ("crv", "kty", "x", "y")}
        canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode("ascii")).digest())

    def remember_nonce(self, url: str, nonce: str) -> None:
        self.nonces[origin_of(url)] = nonce

    def proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        """A proof for one request (§4.2): `ath` when it carries `access_token`, and the
        server's latest nonce if it gave one."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": target_uri(url),
            "iat": int(self._clock()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        nonce = self.nonces.get(origin_of(url))
        if nonce is not None:
            claims["nonce"] = nonce
        headers = {"typ": PROOF_TYPE, "jwk": self.public_jwk}
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM, headers=headers)

    def __repr__(self) -> str:  # never the private key
        return f"DPoPKey(thumbprint={self.thumbprint!r})"


def offered(algorithms: tuple[str, ...] | list[str]) -> bool:
    """Whether a server's `dpop_signing_alg_values_supported` lets this client's proofs in."""
    return ALGORITHM in algorithms
