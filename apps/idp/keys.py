"""The IdP's signing keys, parsed once per process, and the JWKS built from them.

Two tables hold them: the library's RSAKey (RS256) and our ECKey (ES256, P-256). Parsing a
PEM private key and deriving its public numbers costs far more than reading the rows, so
parsed keys are kept per process, keyed by a fingerprint of the rows. The tables themselves
are re-read at most every `OIDC_SIGNING_KEYS_TTL_SECONDS`: reading them on every signature
was one more SQL statement per refresh. A key saved or deleted through the ORM in this
process is seen at once (signals drop the cache); one added or removed on another instance
is seen here within the TTL. Rotate keys the usual way, so that no instance signs
with a key no longer published: add the new key, let the TTL pass, then delete the old one.
"""

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from oidc_provider.models import RSAKey

from apps.idp.models import ECKey, KeyCreation

ALGORITHMS = ("RS256", "ES256")  # the asymmetric ID token algorithms; RS256 is the default
P256_COORDINATE_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    public_jwk: dict[str, str]


@dataclass(frozen=True)
class _KeySet:
    fingerprint: str
    by_alg: dict[str, tuple[SigningKey, ...]]  # every alg of ALGORITHMS, oldest key first
    jwks: dict[str, Any]
    read_at: float  # time.monotonic() of the tables' read


_lock = threading.Lock()
_cached: _KeySet | None = None


def _parse_rsa(pem: str) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("an RSAKey row holds no RSA key")
    numbers = private_key.public_key().public_numbers()
    kid = hashlib.md5(pem.encode("utf-8")).hexdigest()  # noqa: S324 (the library's kid: same value)
    return SigningKey(
        kid=kid,
        alg="RS256",
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


def _coordinate(value: int) -> str:
    # RFC 7518 §6.2.1.2: x and y are the full 32 octets, leading zeros kept (unlike n and e).
    return jwt.utils.base64url_encode(value.to_bytes(P256_COORDINATE_BYTES, "big")).decode("ascii")


def _parse_ec(pem: str) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    if not (
        isinstance(private_key, ec.EllipticCurvePrivateKey)
        and isinstance(private_key.curve, ec.SECP256R1)
    ):
        raise ValueError("an ECKey row holds no P-256 key (ES256 signs with P-256 only)")
    numbers = private_key.public_key().public_numbers()
    required = {
        "crv": "P-256",
        "kty": "EC",
        "x": _coordinate(numbers.x),
        "y": _coordinate(numbers.y),
    }
    # The kid is the key's RFC 7638 thumbprint: its required members, sorted, no whitespace.
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode("utf-8")
    kid = jwt.utils.base64url_encode(hashlib.sha256(canonical).digest()).decode("ascii")
    return SigningKey(
        kid=kid,
        alg="ES256",
        private_key=private_key,
        public_jwk={**required, "alg": "ES256", "use": "sig", "kid": kid},
    )


def ec_kid(pem: str) -> str:
    """The kid an ECKey row's key is published under."""
    return _parse_ec(pem).kid


_PARSERS = {"RS256": _parse_rsa, "ES256": _parse_ec}


def _parse(pem: str, alg: str) -> SigningKey:
    return _PARSERS[alg](pem)


def _read_tables(previous: _KeySet | None) -> _KeySet:
    rsa_pems = list(RSAKey.objects.order_by("id").values_list("key", flat=True))
    ec_pems = list(ECKey.objects.order_by("id").values_list("key", flat=True))
    rows = "\0".join(rsa_pems) + "\1" + "\0".join(ec_pems)
    fingerprint = hashlib.sha256(rows.encode("utf-8")).hexdigest()
    now = time.monotonic()
    if previous is not None and previous.fingerprint == fingerprint:
        return _KeySet(fingerprint, previous.by_alg, previous.jwks, now)
    by_alg = {
        "RS256": tuple(_parse(pem, "RS256") for pem in rsa_pems),
        "ES256": tuple(_parse(pem, "ES256") for pem in ec_pems),
    }
    published = [key.public_jwk for alg in ALGORITHMS for key in by_alg[alg]]
    return _KeySet(fingerprint, by_alg, {"keys": published}, now)


def _load() -> _KeySet:
    global _cached
    cached = _cached
    ttl = settings.OIDC_SIGNING_KEYS_TTL_SECONDS
    if cached is not None and time.monotonic() - cached.read_at < ttl:
        return cached
    fresh = _read_tables(cached)
    with _lock:
        _cached = fresh
    return fresh


@receiver(post_save, sender=RSAKey)
@receiver(post_save, sender=ECKey)
def record_creation(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    # A key made while migrating to a state before KeyCreation has no table to go to; the
    # migration that adds the table records the keys that exist then.
    if created and KeyCreation._meta.db_table in connection.introspection.table_names():
        alg = "RS256" if sender is RSAKey else "ES256"
        KeyCreation.objects.get_or_create(alg=alg, key_id=instance.pk)


def signing_key_ages(now: float) -> dict[str, float]:
    """Seconds since each algorithm's signing key (the oldest row) was made; keys older than
    the record of their making (made before it existed) count from when it was added."""
    ages = {}
    for alg, table in (("RS256", RSAKey), ("ES256", ECKey)):
        oldest = table.objects.order_by("id").values_list("pk", flat=True).first()
        made = (
            KeyCreation.objects.filter(alg=alg, key_id=oldest)
            .values_list("created_at", flat=True)
            .first()
        )
        if made is not None:
            ages[alg] = now - made.timestamp()
    return ages


@receiver(post_save, sender=RSAKey)
@receiver(post_delete, sender=RSAKey)
@receiver(post_save, sender=ECKey)
@receiver(post_delete, sender=ECKey)
def forget_keys(**kwargs: Any) -> None:
    """Re-read the tables on the next call (keys changed in this process, or tests)."""
    global _cached
    with _lock:
        _cached = None


def signing_keys(alg: str = "RS256") -> tuple[SigningKey, ...]:
    """The keys for `alg` (RS256 or ES256), oldest first (the first signs); empty if none."""
    return _load().by_alg[alg]


def jwks() -> dict[str, Any]:
    """The JSON Web Key Set of the public halves, as /oidc/jwks serves it (RFC 7517 §5)."""
    return _load().jwks


class NoSigningKey(LookupError):
    """No key for the algorithm: `manage.py migrate` (or prepare_demo) makes one of each."""


def sign(claims: dict[str, Any], alg: str) -> str:
    """A JWS of `claims` with the oldest key for `alg` (RS256 or ES256), its kid in the header.

    RS256 as the library's encode_id_token makes it. The parsed key object goes to PyJWT as
    is: no PEM round trip per signature. Raises NoSigningKey.
    """
    keys = signing_keys(alg)
    if not keys:
        raise NoSigningKey(f"no {alg} signing key")
    return jwt.encode(claims, keys[0].private_key, algorithm=alg, headers={"kid": keys[0].kid})
