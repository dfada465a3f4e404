"""Database writes shared by the IdP's commands, admin and tests."""

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import transaction
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import ResponseType, RSAKey

from apps.idp import keys
from apps.idp.models import DPoPClientPolicy, ECKey
from apps.idp.redirect_uris import RedirectURIError, check_redirect_uris

SEED_CLIENT_NAME = "PKCE command-line client"
SEED_SCOPES = ("openid", "profile", "email", "offline_access")
# A command-line client's own listener (RFC 8252 §7.3): IP literals, any port at request time.
LOOPBACK_REDIRECT_URIS = ("http://127.0.0.1/callback", "http://[::1]/callback")
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

SIGNING_KEY_TABLES: dict[str, type[RSAKey] | type[ECKey]] = {"RS256": RSAKey, "ES256": ECKey}


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
    post_logout_redirect_uris: tuple[str, ...] | None = None,
    require_dpop: bool | None = None,
) -> OIDCClient:
    """Create or update the seed's public client: code flow, consent asked every time.

    `post_logout_redirect_uris`: where RP-initiated logout may send the person back; None
    leaves an existing client's as they are. `require_dpop`: refuse its token requests
    without a DPoP proof (RFC 9449); None leaves it as it is (off for a new client).
    It gets `redirect_uri` (the receiver page) and the loopback URIs; as every public
    client, it may use the device grant (see apps.idp.grants.device_code).
    """
    if jwt_alg not in ID_TOKEN_ALGORITHMS:
        raise SeedError(f"unknown ID token algorithm {jwt_alg!r}: use RS256 or ES256")
    refuse_weak_signing("public", jwt_alg)
    refuse_unsafe_redirect_uris([redirect_uri])
    try:
        check_redirect_uris(list(post_logout_redirect_uris or ()))
    except RedirectURIError as exc:
        raise SeedError(f"post-logout redirect URI {exc}") from None
    logout_uris = (
        {}
        if post_logout_redirect_uris is None
        else {"_post_logout_redirect_uris": "\n".join(post_logout_redirect_uris)}
    )
    oidc_client, _ = OIDCClient.objects.update_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": "public",
            "client_secret": "",
            "jwt_alg": jwt_alg,
            "_redirect_uris": "\n".join(dict.fromkeys((redirect_uri, *LOOPBACK_REDIRECT_URIS))),
            "_scope": " ".join(scopes),
            "require_consent": True,
            "reuse_consent": False,
            **logout_uris,
        },
    )
    oidc_client.response_types.set([response_type("code")])
    if require_dpop is not None:
        set_dpop_required(oidc_client, require_dpop)
    return oidc_client


def set_dpop_required(oidc_client: OIDCClient, required: bool) -> None:
    """Store whether the client must send DPoP proofs; no row is kept for "not required"."""
    if required:
        DPoPClientPolicy.objects.update_or_create(
            client=oidc_client, defaults={"require_dpop": True}
        )
    else:
        DPoPClientPolicy.objects.filter(client=oidc_client).delete()


def requires_dpop(oidc_client: OIDCClient) -> bool:
    """The client's stored DPoP policy (apps.idp.dpop_binding reads it through a cache)."""
    return DPoPClientPolicy.objects.filter(client=oidc_client, require_dpop=True).exists()


RESOURCE_SERVER_NAME = "Receiver API (resource server)"
INTROSPECTION_SCOPE = "token_introspection"  # the library's scope for RFC 7662 callers


@transaction.atomic
def seed_resource_server(
    client_id: str, *, secret: str, audiences: tuple[str, ...], name: str = RESOURCE_SERVER_NAME
) -> OIDCClient:
    """Create or update the confidential client the receiver's API introspects tokens as.

    The library answers it only about tokens whose ID token's `aud` (the client the token
    was issued to) is in its scope, beside `token_introspection`: `audiences` are those
    client ids. It has no redirect URI and no response type: it never signs anyone in.
    """
    if not secret:
        raise SeedError("a resource server needs a client secret")
    oidc_client, _ = OIDCClient.objects.update_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "client_type": "confidential",
            "client_secret": secret,
            "jwt_alg": "RS256",
            "_redirect_uris": "",
            "_scope": " ".join((INTROSPECTION_SCOPE, *audiences)),
            "require_consent": True,
            "reuse_consent": False,
        },
    )
    oidc_client.response_types.clear()
    return oidc_client


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def new_signing_key_pem(alg: str) -> str:
    """A fresh private key for `alg`, PEM as its table holds it: the one place keys are made.

    RS256: RSA 2048, PKCS #1 (what the library's `creatersakey` writes). ES256: P-256, PKCS #8.
    """
    if alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_format = serialization.PrivateFormat.TraditionalOpenSSL
    elif alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
        key_format = serialization.PrivateFormat.PKCS8
    else:
        raise ValueError(f"no signing key kind for {alg!r}: use one of {keys.ALGORITHMS}")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, key_format, serialization.NoEncryption()
    )
    return pem.decode("ascii")


def ensure_signing_keys(
    algorithms: tuple[str, ...] = keys.ALGORITHMS,
) -> dict[str, RSAKey | ECKey]:
    """The oldest signing key of each algorithm (it signs), creating one where none exists.

    Every caller that needs keys to exist comes here: migrate's post_migrate hook,
    prepare_demo, seed_client and the tests. Both are made by default even if no client uses
    ES256 yet: the JWKS publishes both, so a client switched to ES256 finds its key at once.
    """
    oldest: dict[str, RSAKey | ECKey] = {}
    for alg in algorithms:
        table = SIGNING_KEY_TABLES[alg]
        existing = table.objects.order_by("id").first()
        oldest[alg] = existing or table.objects.create(key=new_signing_key_pem(alg))
    return oldest
