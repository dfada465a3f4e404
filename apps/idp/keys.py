"""The IdP's signing keys, parsed once per process, and the JWKS built from them.

Parsing a PEM private key and deriving its public numbers costs far more than reading the
row, so parsed keys are cached by a fingerprint of the rows: each call still reads the
RSAKey table (one small query), so a key added or removed on any instance is seen by every
instance on its next request; nothing is stale after a rotation.
"""

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oidc_provider.models import RSAKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, str]


_lock = threading.Lock()
_cached: tuple[str, tuple[SigningKey, ...], dict[str, Any]] | None = None


def _parse(pem: str) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    numbers = private_key.public_key().public_numbers()
    kid = hashlib.md5(pem.encode("utf-8")).hexdigest()  # noqa: S324 (the library's kid: same value)
    return SigningKey(
        kid=kid,
        private_key=private_key,
        public_jwk={
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": kid,
            "n": jwt.utils.to_base64url_uint(numbers.n).decode("ascii"),
            "e": jwt.utils.to_base64url_uint(numbers.e).decode("ascii"),
        },
    )


def _load() -> tuple[tuple[SigningKey, ...], dict[str, Any]]:
    global _cached
    pems = list(RSAKey.objects.order_by("id").values_list("key", flat=True))
    fingerprint = hashlib.sha256("\0".join(pems).encode("utf-8")).hexdigest()
    cached = _cached
    if cached is not None and cached[0] == fingerprint:
        return cached[1], cached[2]
    keys = tuple(_parse(pem) for pem in pems)
    jwks = {"keys": [key.public_jwk for key in keys]}
    with _lock:
        _cached = (fingerprint, keys, jwks)
    return keys, jwks


def signing_keys() -> tuple[SigningKey, ...]:
    """The RSA keys, oldest first (the library signs with the first); empty if none exist."""
    return _load()[0]


def jwks() -> dict[str, Any]:
    """The JSON Web Key Set of the public halves, as /oidc/jwks serves it (RFC 7517 §5)."""
    return _load()[1]
