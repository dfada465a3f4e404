"""The IdP's signing keys, parsed once per process, and the JWKS built from them.

Parsing a PEM private key and deriving its public numbers costs far more than reading the
row, so parsed keys are kept per process, keyed by a fingerprint of the rows. The RSAKey
table itself is re-read at most every `OIDC_SIGNING_KEYS_TTL_SECONDS`: reading it on every
signature was one more SQL statement per refresh. A key saved or deleted through the ORM in
this process is seen at once (signals drop the cache); one added or removed on another
instance is seen here within the TTL. Rotate keys the usual way, so that no instance signs
with a key no longer published: add the new key, let the TTL pass, then delete the old one.
"""

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from oidc_provider.models import RSAKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, str]


@dataclass(frozen=True)
class _KeySet:
    fingerprint: str
    keys: tuple[SigningKey, ...]
    jwks: dict[str, Any]
    read_at: float  # time.monotonic() of the table read


_lock = threading.Lock()
_cached: _KeySet | None = None


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


def _read_table(previous: _KeySet | None) -> _KeySet:
    pems = list(RSAKey.objects.order_by("id").values_list("key", flat=True))
    fingerprint = hashlib.sha256("\0".join(pems).encode("utf-8")).hexdigest()
    now = time.monotonic()
    if previous is not None and previous.fingerprint == fingerprint:
        return _KeySet(fingerprint, previous.keys, previous.jwks, now)
    keys = tuple(_parse(pem) for pem in pems)
    return _KeySet(fingerprint, keys, {"keys": [key.public_jwk for key in keys]}, now)


def _load() -> _KeySet:
    global _cached
    cached = _cached
    ttl = settings.OIDC_SIGNING_KEYS_TTL_SECONDS
    if cached is not None and time.monotonic() - cached.read_at < ttl:
        return cached
    fresh = _read_table(cached)
    with _lock:
        _cached = fresh
    return fresh


@receiver(post_save, sender=RSAKey)
@receiver(post_delete, sender=RSAKey)
def forget_keys(**kwargs: Any) -> None:
    """Re-read the table on the next call (keys changed in this process, or tests)."""
    global _cached
    with _lock:
        _cached = None


def signing_keys() -> tuple[SigningKey, ...]:
    """The RSA keys, oldest first (the library signs with the first); empty if none exist."""
    return _load().keys


def jwks() -> dict[str, Any]:
    """The JSON Web Key Set of the public halves, as /oidc/jwks serves it (RFC 7517 §5)."""
    return _load().jwks


class NoSigningKey(LookupError):
    """The RSAKey table is empty: `manage.py creatersakey` (or prepare_demo) makes one."""


def sign_rs256(claims: dict[str, Any]) -> str:
    """An RS256 JWS of `claims` with the oldest key, as the library's encode_id_token makes.

    The parsed key object goes to PyJWT as is: no PEM round trip per signature.
    Raises NoSigningKey.
    """
    keys = signing_keys()
    if not keys:
        raise NoSigningKey("no RSA signing key")
    return jwt.encode(claims, keys[0].private_key, algorithm="RS256", headers={"kid": keys[0].kid})
