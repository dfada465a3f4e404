"""What every grant of the token endpoint shares: the request, client authentication, the
checks before any write, the consequences of a refusal, and the success response."""

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from oidc_provider.lib.utils.oauth2 import extract_client_auth
from oidc_provider.lib.utils.token import encode_id_token
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, Token

from apps.idp import dpop, dpop_binding, keys, policy
from apps.idp.errors import (
    InvalidClient,
    InvalidRequest,
    TemporarilyUnavailable,
    UnauthorizedClient,
)
from apps.idp.id_token import claims as claims_of_id_token
from apps.idp.models import Grant, IssuedToken

logger = logging.getLogger(__name__)


@dataclass
class TokenRequest:
    """A token request's form, read once; `now` is the request's one clock reading; `proof`
    its valid DPoP proof, if it sent one (set by the endpoint before the grant runs)."""

    http: HttpRequest
    form: QueryDict = field(init=False)
    now: datetime = field(init=False)
    proof: dpop.Proof | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.form = self.http.POST
        self.now = timezone.now()

    def param(self, name: str) -> str:
        return self.form.get(name, "")


@dataclass(frozen=True)
class TokenAnswer:
    """A successful token response, its ID token's claims not yet signed (see `signed`)."""

    client: OIDCClient
    body: dict[str, Any]
    id_token_claims: dict[str, Any] | None = None
    user_id: int | None = None  # for the audit trail
    grant_id: int | None = None

    def signed(self) -> dict[str, Any]:
        """The body with its ID token, signed once the writes are committed: on SQLite the
        write lock is not held for the signature."""
        if self.id_token_claims:
            return self.body | {"id_token": sign_id_token(self.id_token_claims, self.client)}
        return self.body


def signs_with_empty_key(oidc_client: OIDCClient) -> bool:
    """HS256 with no secret: PyJWT refuses to sign (a 500), older versions sign forgeably."""
    return oidc_client.jwt_alg == "HS256" and not oidc_client.client_secret


def first_row(queryset: QuerySet[Model]) -> Model | None:
    """The row of a lookup by a unique column, or None: `.first()` without its ORDER BY."""
    return next(iter(queryset[:1]), None)


# The library's test for HTTP Basic credentials (extract_client_auth): the same one here.
_BASIC = re.compile(r"^Basic\s{1}.+$")


def client_credentials(request: HttpRequest) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or the body; "" for a secret not sent.

    One method per request (RFC 6749 §2.3): Basic with a body `client_secret` is
    `invalid_request` (§5.2), Basic for one client with a body `client_id` of another is
    `invalid_client`. Raises OAuthError.
    """
    if not _BASIC.match(request.META.get("HTTP_AUTHORIZATION", "")):
        return extract_client_auth(request)
    if "client_secret" in request.POST:
        raise InvalidRequest("Use one client authentication method, not two.")
    client_id, client_secret = extract_client_auth(request)
    if request.POST.get("client_id", client_id) != client_id:
        raise InvalidClient("client_id differs from the Basic credentials'.")
    return client_id, client_secret


def authenticate_client(request: HttpRequest, known: OIDCClient | None = None) -> OIDCClient:
    """RFC 6749 §2.3: public clients name themselves; confidential ones prove their secret.

    A public client that sends a secret is refused: it has none to match, so whatever it
    sent is wrong. `known`: the client the caller has read already (the refresh grant's
    locked lookup brings it); used only if it is the one the request names, otherwise it is
    read here.
    """
    client_id, client_secret = client_credentials(request)
    if not client_id or not policy.is_opaque_value(client_id):
        raise InvalidClient("Unknown client or no client_id sent.")
    if known is not None and known.client_id == client_id:
        oidc_client = known
    else:
        oidc_client = first_row(OIDCClient.objects.filter(client_id=client_id))
    if oidc_client is None:
        raise InvalidClient("Unknown client or no client_id sent.")
    if oidc_client.client_type == "public" and client_secret:
        raise InvalidClient("A public client has no secret to send.")
    if oidc_client.client_type == "confidential" and not (
        oidc_client.client_secret
        and secrets.compare_digest(
            (client_secret or "").encode("utf-8"), oidc_client.client_secret.encode("utf-8")
        )
    ):
        raise InvalidClient("Client authentication failed.")
    return oidc_client


def check_can_sign_for(oidc_client: OIDCClient) -> None:
    """Refuse now, before any write, a client whose ID tokens could not be signed.

    The ID token is signed once the rotation is committed: failing then would leave the
    client holding a refresh token that is no longer the live one.
    """
    if signs_with_empty_key(oidc_client):
        raise UnauthorizedClient("This client's ID tokens would be signed with no key.")
    alg = oidc_client.jwt_alg
    if alg not in (*keys.ALGORITHMS, "HS256"):
        raise UnauthorizedClient(f"ID tokens cannot be signed with {alg}.")
    if alg in keys.ALGORITHMS and not keys.signing_keys(alg):
        logger.error("no %s signing key: manage.py prepare_demo or migrate makes one", alg)
        raise TemporarilyUnavailable(f"The IdP has no {alg} signing key right now.")


def sign_id_token(claims: dict[str, Any], oidc_client: OIDCClient) -> str:
    """RS256 or ES256, as the client's jwt_alg says, with the per-process parsed keys
    (keys.py); HS256 as the library does."""
    if oidc_client.jwt_alg in keys.ALGORITHMS:
        return keys.sign(claims, oidc_client.jwt_alg)
    return encode_id_token(claims, oidc_client)


def setting_seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


# --- consequences: writes a refusal commits (see apps.idp.errors)


def revoke_grant(grant_id: int) -> None:
    """Revoke a grant: its code can no longer be exchanged and every token of it is deleted."""
    Grant.objects.filter(pk=grant_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    Token.objects.filter(grant_link__grant_id=grant_id).delete()


def consume_code(code_id: int, grant_id: int | None) -> None:
    """A failed PKCE check uses the code up (RFC 7636 §4.6 leaves no second try)."""
    Code.objects.filter(pk=code_id).delete()
    if grant_id is not None:
        Grant.objects.filter(pk=grant_id).update(revoked_at=timezone.now())


# --- the success response (RFC 6749 §5.1)


def id_token_claims(
    request: TokenRequest, token: Token, user: Any, nonce: str | None
) -> dict[str, Any]:
    """The ID token's claims for `token` (the library's OIDC_IDTOKEN_* settings apply)."""
    return claims_of_id_token(
        token, user, token.client.client_id, nonce, token.at_hash, request=request.http
    )


@dataclass(frozen=True)
class IssuedValues:
    """A new token's access and refresh values: the response carries them, nothing else does."""

    access_token: str
    refresh_token: str


def keep_hashes_only(token: Token) -> IssuedValues:
    """Put the SHA-256 of the token's values in their place (what is saved) and return the values.

    A database dump or an admin page then holds nothing a client could present. Called once
    whatever derives from the values (the ID token's `at_hash`) has been computed.
    """
    issued = IssuedValues(token.access_token, token.refresh_token)
    token.access_token = policy.token_hash(issued.access_token)
    token.refresh_token = policy.token_hash(issued.refresh_token)
    return issued


def token_answer(
    token: Token,
    issued: IssuedValues,
    id_token: dict[str, Any] | None = None,
    grant_id: int | None = None,
    *,
    refreshable: bool = False,
) -> TokenAnswer:
    """`issued`: the token's values in clear. `refreshable`: the grant's scope has
    `offline_access` whatever the token's says (a refresh that narrowed the access token).
    `grant_id`: for the audit trail."""
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": dpop_binding.token_type(issued.access_token),
        "expires_in": settings.OIDC_TOKEN_EXPIRE,
        "scope": " ".join(token.scope),
    }
    if token.user_id is not None and (refreshable or policy.OFFLINE_ACCESS in token.scope):
        # Only `offline_access` earns a refresh token (OIDC Core §11); without it the
        # stored refresh value is never disclosed and the refresh grant refuses it anyway.
        # A token with no user (client_credentials) never gets one: the client can ask again.
        body["refresh_token"] = issued.refresh_token
    return TokenAnswer(token.client, body, id_token or None, token.user_id, grant_id)


def issue(
    request: TokenRequest, token: Token, grant: Grant, *, user: Any, nonce: str | None, openid: bool
) -> TokenAnswer:
    """Save a new token of the grant, bound to the request's DPoP key if any; answer with it."""
    dpop_binding.bind(request.proof, token, grant, token.client)
    id_token = id_token_claims(request, token, user, nonce) if openid else None
    token.id_token = id_token or {}
    issued = keep_hashes_only(token)
    token.save()
    IssuedToken.objects.create(token=token, grant=grant)
    return token_answer(token, issued, id_token, grant.pk)
