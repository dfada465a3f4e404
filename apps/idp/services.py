"""Database writes shared by the IdP's commands, admin and tests."""

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth import get_user_model
from django.db import transaction
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import ResponseType, RSAKey

from apps.idp.models import ECKey
from apps.idp.redirect_uris import RedirectURIError, check_redirect_uris

SEED_CLIENT_NAME = "PKCE command-line client"
SEED_SCOPES = ("openid", "profile", "email", "offline_access")
# What a client's `jwt_alg` (OIDC Dynamic Registration's id_token_signed_response_alg) may
# be here. The library's model lists HS256 and RS256 only, and only its forms enforce that.
ID_TOKEN_ALGORITHMS = ("RS256", "ES256", "HS256")

HS256_FOR_PUBLIC_CLIENT = (
    "HS256 signs ID tokens with the client secret, and a public client has none: the "
    "token endpoint would have to sign with an empty key (anyone could forge the ID token). "
    "Use RS256 for public clients."
)

# django-oidc-provider seeds these rows in a data migration; a flushed test database
# (or a hand-emptied table) loses them, so they are recreated where needed.
_RESPONSE_TYPE_DESCRIPTIONS = {"code": "code (Authorization Code Flow)"}


class SeedError(ValueError):
    """A seed request that would leave an unsafe or unusable client."""


def refuse_weak_signing(client_type: str, jwt_alg: str) -> None:
    """Raise SeedError unless a public client signs with RS256 or ES256.

    HS256 has no secret to sign with; an empty or unknown value is refused too, rather than
    trusting whatever the library or an RP falls back to for it.
    """
    if client_type != "public":
        return
    if jwt_alg == "HS256":
        raise SeedError(HS256_FOR_PUBLIC_CLIENT)
    if jwt_alg not in ID_TOKEN_ALGORITHMS:
        raise SeedError(f"unknown ID token algorithm {jwt_alg!r}: use RS256 or ES256")


def refuse_unsafe_redirect_uris(uris: list[str]) -> None:
    """Raise SeedError for a redirect URI apps.idp.redirect_uris refuses."""
    try:
        check_redirect_uris(uris)
    except RedirectURIError as exc:
        raise SeedError(str(exc)) from None


def response_type(value: str) -> ResponseType:
    row, _ = ResponseType.objects.get_or_create(
        value=value, defaults={"description": _RESPONSE_TYPE_DESCRIPTIONS.get(value, value)}
    )
    return row


def new_client_id() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def seed_public_client(
    client_id: str,
    *,
    name: str = SEED_CLIENT_NAME,
    redirect_uri: str,
    scopes: tuple[str, ...] = SEED_SCOPES,
    jwt_alg: str = "RS256",
) -> OIDCClient:
    """Create or update the seed's public client: code flow, consent asked every time."""
    if jwt_alg not in ID_TOKEN_ALGORITHMS:
        raise SeedError(f"unknown ID token algorithm {jwt_alg!r}: use RS256 or ES256")
    refuse_weak_signing("public", jwt_alg)
    refuse_unsafe_redirect_uris([redirect_uri])
    oidc_client, _ = OIDCClient.objects.update_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": "public",
            "client_secret": "",
            "jwt_alg": jwt_alg,
            "_redirect_uris": redirect_uri,
            "_scope": " ".join(scopes),
            "require_consent": True,
            "reuse_consent": False,
        },
    )
    oidc_client.response_types.set([response_type("code")])
    return oidc_client


def ensure_signing_key() -> RSAKey:
    """Make sure both signing keys exist; return the oldest RSA one (RS256, the default).

    The ES256 key is made even if no client uses it yet: the JWKS publishes both, so a client
    switched to ES256 finds its key there at once.
    """
    ensure_es256_key()
    return ensure_rsa_key()


def ensure_rsa_key() -> RSAKey:
    """Return the oldest RSA signing key, creating one (like `creatersakey`) if none exists."""
    existing = RSAKey.objects.order_by("id").first()
    if existing:
        return existing
    return RSAKey.objects.create(key=new_rsa_pem())


def new_rsa_pem() -> str:
    """A fresh 2048-bit RSA private key, PEM, as `creatersakey` makes them."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")


def ensure_es256_key() -> ECKey:
    """Return the oldest ECDSA P-256 signing key (ES256), creating one if none exists."""
    existing = ECKey.objects.order_by("id").first()
    if existing:
        return existing
    return ECKey.objects.create(key=new_es256_pem())


def new_es256_pem() -> str:
    """A fresh ECDSA P-256 private key, PEM (PKCS #8), as ECKey.key holds it."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str | None  # None: the account existed and we left its password alone
    created: bool


def ensure_demo_user(
    username: str, *, email: str, password: str | None, fallback_password: str
) -> DemoUser:
    """Create the demo end user (a superuser, so it can also sign in to the admin).

    `password` (from DJANGO_SUPERUSER_PASSWORD) is applied whenever given. Without it a
    new account gets `fallback_password`, and an existing one keeps whatever it has,
    unless that still is the fallback: nothing a person set by hand is overwritten.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user_model.objects.create_superuser(
            username=username,
            email=email,
            password=password or fallback_password,
            first_name="Demo",
            last_name="User",
        )
        return DemoUser(username, password or fallback_password, created=True)
    if password:
        user.set_password(password)
        user.save(update_fields=["password"])
        return DemoUser(username, password, created=False)
    known = fallback_password if user.check_password(fallback_password) else None
    return DemoUser(username, known, created=False)
