"""django-oidc-provider's endpoints, held to RFC 9700 for public clients.

The authorization endpoint subclasses the library's; the token endpoint keeps the library's
token and ID token helpers but decides itself who gets what; revocation (RFC 7009) and
userinfo are ours. Views in `oidc_views.py` only turn their results into responses.
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from oidc_provider.lib.claims import StandardScopeClaims
from oidc_provider.lib.endpoints.authorize import AuthorizeEndpoint
from oidc_provider.lib.errors import AuthorizeError, TokenError
from oidc_provider.lib.utils.oauth2 import extract_client_auth
from oidc_provider.lib.utils.token import create_id_token, create_token, encode_id_token
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, Token
from oidc_provider.settings import get as library_setting

from apps.idp import keys, policy, token_sql, writes
from apps.idp.models import Grant, IssuedToken

logger = logging.getLogger(__name__)

AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
)


def signs_with_empty_key(oidc_client: OIDCClient) -> bool:
    """HS256 with no secret: PyJWT refuses to sign (a 500), older versions sign forgeably."""
    return oidc_client.jwt_alg == "HS256" and not oidc_client.client_secret


def repeated_param(query: QueryDict, names: tuple[str, ...]) -> str | None:
    """RFC 6749 §3.1 and §3.2: parameters MUST NOT be included more than once."""
    return next((name for name in names if len(query.getlist(name)) > 1), None)


class PublicClientAuthorizeEndpoint(AuthorizeEndpoint):
    """The library's authorization endpoint plus PKCE S256, scope policy and code binding."""

    def validate_params(self) -> None:
        redirect_uri = self.params["redirect_uri"]

        def refuse(error: str, why: str) -> AuthorizeError:
            logger.info("authorize refused for client %s: %s", self.client.client_id, why)
            # Errors go to the query: only the code flow is served (RFC 6749 §4.1.2.1).
            return AuthorizeError(redirect_uri, error, "authorization_code")

        try:
            super().validate_params()  # client and redirect_uri first: errors there are a page
        except AuthorizeError as error:
            error.grant_type = "authorization_code"
            if self.params["response_type"] != "code":
                raise refuse("unsupported_response_type", "not the code flow") from error
            raise
        if self.params["response_type"] != "code":
            # Tokens in the front channel leak (RFC 9700 §2.1.2): only the code flow is served.
            raise refuse("unsupported_response_type", "response_type other than code")
        query = self.request.POST if self.request.method == "POST" else self.request.GET
        if repeated := repeated_param(query, AUTHORIZE_PARAMS):
            raise refuse("invalid_request", f"{repeated} sent more than once")
        if signs_with_empty_key(self.client):
            raise refuse("unauthorized_client", "HS256 without a client secret")
        challenge = self.params["code_challenge"]
        method = self.params["code_challenge_method"]
        if self.client.client_type == "public" and not challenge:
            raise refuse("invalid_request", "public client without code_challenge")  # §2.1.1
        if challenge and (method != "S256" or not policy.is_s256_challenge(challenge)):
            # A missing method means `plain` (RFC 7636 §4.3), refused like an explicit one.
            raise refuse("invalid_request", "code_challenge is not S256")
        if not (policy.is_printable(self.params["nonce"]) and policy.is_printable(redirect_uri)):
            raise refuse("invalid_request", "nonce not printable or too long")
        granted = policy.grantable_scopes(self.params["scope"], self.client.scope)
        if not granted:
            raise refuse("invalid_scope", "no scope this client may get")
        self.params["scope"] = granted
        self.is_authentication = "openid" in granted

    def create_code(self) -> Code:
        code = super().create_code()
        now = timezone.now()
        Grant.objects.create(
            client=self.client,
            code_hash=policy.fingerprint(code.code),
            family=policy.new_family(),
            redirect_uri=self.params["redirect_uri"],
            created_at=now,
        )
        return code


@dataclass
class TokenRefusal(Exception):
    """A token endpoint error (RFC 6749 §5.2), with what must change even though it fails."""

    error: str
    description: str
    status: int = 400
    aftermath: list[Callable[[], None]] = field(default_factory=list)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def revoke_grant(grant_id: int) -> None:
    """Revoke a grant: its code can no longer be exchanged and every token of it is deleted."""
    Grant.objects.filter(pk=grant_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    Token.objects.filter(grant_link__grant_id=grant_id).delete()


def consume_code(code_id: int, grant_id: int | None) -> None:
    """A failed PKCE check uses the code up (RFC 7636 §4.6 leaves no second try)."""
    Code.objects.filter(pk=code_id).delete()
    if grant_id is not None:
        Grant.objects.filter(pk=grant_id).update(revoked_at=timezone.now())


def first_row(queryset: QuerySet[Model]) -> Model | None:
    """The row of a lookup by a unique column, or None: `.first()` without its ORDER BY."""
    return next(iter(queryset[:1]), None)


def authenticate_client(request: HttpRequest, known: OIDCClient | None = None) -> OIDCClient:
    """RFC 6749 §2.3: public clients name themselves; confidential ones prove their secret.

    `known`: the client named by the request, when the caller has read it already.
    """
    client_id, client_secret = extract_client_auth(request)
    if not client_id or not policy.is_opaque_value(client_id):
        raise TokenRefusal("invalid_client", "Unknown client or no client_id sent.", 401)
    if known is not None and known.client_id == client_id:
        oidc_client = known
    else:
        oidc_client = first_row(OIDCClient.objects.filter(client_id=client_id))
    if oidc_client is None:
        raise TokenRefusal("invalid_client", "Unknown client or no client_id sent.", 401)
    if oidc_client.client_type == "confidential" and not (
        oidc_client.client_secret
        and secrets.compare_digest(
            (client_secret or "").encode("utf-8"), oidc_client.client_secret.encode("utf-8")
        )
    ):
        raise TokenRefusal("invalid_client", "Client authentication failed.", 401)
    return oidc_client


def sign_id_token(claims: dict[str, Any], oidc_client: OIDCClient) -> str:
    """RS256 or ES256, as the client's jwt_alg says, with the per-process parsed keys
    (keys.py); HS256 as the library does."""
    if oidc_client.jwt_alg in keys.ALGORITHMS:
        return keys.sign(claims, oidc_client.jwt_alg)
    return encode_id_token(claims, oidc_client)


def _setting_seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(settings, name))


@dataclass(frozen=True)
class TokenAnswer:
    """A successful token response, its ID token's claims not yet signed."""

    body: dict[str, Any]
    id_token_claims: dict[str, Any] | None = None


class TokenEndpoint:
    """RFC 6749 §4.1.3 and §6 with RFC 9700's rules for public clients.

    `respond()` runs inside the caller's transaction; a `TokenRefusal` it raises may carry
    `aftermath`, writes the caller runs in a transaction of their own after the rollback
    (consume the code, revoke the grant). The ID token in its answer is signed by `signed()`,
    after the commit: on SQLite, the write lock is not held for the signature.
    """

    GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
    PARAMS = (
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
    )

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.form = request.POST
        self.now = timezone.now()

    def param(self, name: str) -> str:
        return self.form.get(name, "")

    def respond(self) -> TokenAnswer:
        if repeated := repeated_param(self.form, self.PARAMS):
            raise TokenRefusal("invalid_request", f"{repeated} was sent more than once.")
        grant_type = self.param("grant_type")
        if not grant_type:
            raise TokenRefusal("invalid_request", "grant_type is missing.")
        presented = self.presented_refresh_token() if grant_type == "refresh_token" else None
        known = presented.token.client if presented else None
        self.client = authenticate_client(self.request, known)
        if grant_type == "client_credentials" and self.client.client_type == "public":
            # A public client cannot authenticate, so it cannot act on its own behalf.
            raise TokenRefusal("unauthorized_client", "Public clients cannot use this grant.")
        if grant_type not in self.GRANT_TYPES:
            # `password` included: RFC 9700 §2.4 says it MUST NOT be used.
            raise TokenRefusal("unsupported_grant_type", "This grant type is not served.")
        if signs_with_empty_key(self.client):
            raise TokenRefusal(
                "unauthorized_client", "This client's ID tokens would be signed with no key."
            )
        self.refuse_unsignable()
        if grant_type == "authorization_code":
            return self.exchange_code()
        if grant_type == "refresh_token":
            return self.refresh(presented)
        return self.client_credentials()

    def refuse_unsignable(self) -> None:
        """Refuse now, before any write, what could not be signed after the commit.

        The ID token is signed once the rotation is committed: failing then would leave the
        client holding a refresh token that is no longer the live one.
        """
        alg = self.client.jwt_alg
        if alg not in (*keys.ALGORITHMS, "HS256"):
            raise TokenRefusal("unauthorized_client", f"ID tokens cannot be signed with {alg}.")
        if alg in keys.ALGORITHMS and not keys.signing_keys(alg):
            logger.error("no %s signing key: manage.py prepare_demo or migrate makes one", alg)
            raise TokenRefusal(
                "temporarily_unavailable", f"The IdP has no {alg} signing key right now.", 503
            )

    # --- authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.8.2)

    def exchange_code(self) -> TokenAnswer:
        value, redirect_uri = self.param("code"), self.param("redirect_uri")
        verifier = self.form.get("code_verifier")
        if not value:
            raise TokenRefusal("invalid_request", "code is missing.")
        if not redirect_uri:
            raise TokenRefusal("invalid_request", "redirect_uri is missing.")
        invalid = TokenRefusal("invalid_grant", "The code is invalid, expired or already used.")
        if not policy.is_opaque_value(value):
            raise invalid
        code_hash = policy.fingerprint(value)
        code = (
            Code.objects.select_for_update()
            .select_related("user")
            .filter(code=value, client=self.client)
            .first()
        )
        grant = Grant.objects.filter(code_hash=code_hash, client=self.client).first()
        if code is None:
            if grant is not None and grant.exchanged_at is not None:
                # A replayed code: whoever holds it, the tokens issued from it are revoked.
                logger.warning("code replay for grant %s: grant revoked", grant.pk)
                invalid.aftermath.append(lambda: revoke_grant(grant.pk))
            raise invalid
        if grant is None or grant.revoked_at is not None or code.has_expired():
            raise invalid
        if redirect_uri != grant.redirect_uri:
            raise TokenRefusal(
                "invalid_grant", "redirect_uri differs from the authorization request's."
            )
        if code.code_challenge:
            if not (
                code.code_challenge_method == "S256"
                and verifier is not None
                and policy.verifier_matches(verifier, code.code_challenge)
            ):
                wrong = TokenRefusal("invalid_grant", "code_verifier does not match.")
                wrong.aftermath.append(lambda: consume_code(code.pk, grant.pk))
                raise wrong
        elif verifier is not None or self.client.client_type == "public":
            # A verifier for a code issued without a challenge is a downgrade (RFC 9700 §4.8.2).
            downgrade = TokenRefusal("invalid_grant", "This code was issued without PKCE.")
            downgrade.aftermath.append(lambda: consume_code(code.pk, grant.pk))
            raise downgrade
        claimed = Grant.objects.filter(pk=grant.pk, exchanged_at__isnull=True).update(
            exchanged_at=self.now, last_used_at=self.now
        )
        deleted, _ = Code.objects.filter(pk=code.pk).delete()
        if claimed != 1 or deleted != 1:
            raise invalid  # another request exchanged it first
        token = create_token(user=code.user, client=self.client, scope=code.scope)
        token.refresh_token = policy.new_refresh_token(grant.family)
        return self.issue(
            token, grant, user=code.user, nonce=code.nonce, openid=code.is_authentication
        )

    def issue(
        self, token: Token, grant: Grant, *, user: Any, nonce: str | None, openid: bool
    ) -> TokenAnswer:
        id_token = self.id_token(token, user, nonce) if openid else None
        token.id_token = id_token or {}
        token.save()
        IssuedToken.objects.create(token=token, grant=grant)
        return self.token_response(token, id_token)

    def id_token(self, token: Token, user: Any, nonce: str | None) -> dict[str, Any]:
        return create_id_token(
            token=token,
            user=user,
            aud=self.client.client_id,
            nonce=nonce,
            at_hash=token.at_hash,
            request=self.request,
            scope=token.scope,
        )

    def token_response(self, token: Token, id_token: dict[str, Any] | None) -> TokenAnswer:
        body: dict[str, Any] = {
            "access_token": token.access_token,
            "token_type": "Bearer",
            "expires_in": settings.OIDC_TOKEN_EXPIRE,
            "scope": " ".join(token.scope),
        }
        if policy.OFFLINE_ACCESS in token.scope:
            # Only `offline_access` earns a refresh token (OIDC Core §11); without it the
            # stored refresh value is never disclosed and `refresh()` refuses it anyway.
            body["refresh_token"] = token.refresh_token
        return TokenAnswer(body, id_token or None)

    def signed(self, answer: TokenAnswer) -> dict[str, Any]:
        if answer.id_token_claims:
            return answer.body | {"id_token": sign_id_token(answer.id_token_claims, self.client)}
        return answer.body

    # --- refresh_token (RFC 6749 §6, RFC 9700 §4.14.2)

    def presented_refresh_token(self) -> token_sql.PresentedRefresh | None:
        """The refresh token's row with its client, grant and user, locked; one query.

        Selected by the client_id the request names, so the client comes in the same query;
        when nothing matches, `authenticate_client` reads the client itself (None here).
        """
        value = self.param("refresh_token")
        client_id, _ = extract_client_auth(self.request)
        if not (client_id and policy.is_opaque_value(value) and policy.is_opaque_value(client_id)):
            return None
        return token_sql.lock_refresh_token(value, client_id)

    def refresh(self, presented: token_sql.PresentedRefresh | None) -> TokenAnswer:
        value = self.param("refresh_token")
        if not value:
            raise TokenRefusal("invalid_request", "refresh_token is missing.")
        invalid = TokenRefusal("invalid_grant", "The refresh token is invalid, expired or revoked.")
        if not policy.is_opaque_value(value):
            raise invalid
        if presented is None:
            self.detect_reuse(value, invalid)
            raise invalid
        token, grant = presented.token, presented.grant
        if grant is None or grant.revoked_at is not None or token.user is None:
            raise invalid
        if policy.OFFLINE_ACCESS not in token.scope or self.expired(grant):
            raise invalid
        requested = self.param("scope").split()
        if set(requested) - set(token.scope):
            raise TokenRefusal("invalid_scope", "The scope exceeds what was granted.")
        fresh = create_token(user=token.user, client=self.client, scope=requested or token.scope)
        fresh.refresh_token = policy.new_refresh_token(grant.family)
        id_token = self.id_token(fresh, token.user, None) if token.id_token else None
        fresh.id_token = id_token or {}
        # Rotate in place, only if nobody rotated it meanwhile: of concurrent requests with
        # the same refresh token exactly one matches this UPDATE (RFC 9700 §4.14.2).
        if not token_sql.rotate(token.pk, value, fresh):
            raise invalid
        token_sql.touch_grant(grant.pk, self.now, policy.fingerprint(value))
        return self.token_response(fresh, id_token)

    def expired(self, grant: Grant) -> bool:
        idle = _setting_seconds("OIDC_REFRESH_IDLE_SECONDS")
        absolute = _setting_seconds("OIDC_REFRESH_ABSOLUTE_SECONDS")
        last_used = grant.last_used_at or grant.created_at
        return self.now >= last_used + idle or self.now >= grant.created_at + absolute

    def detect_reuse(self, value: str, invalid: TokenRefusal) -> None:
        """A refresh token of a known family that is not its live one: revoke the grant.

        Unless it is the token the last rotation replaced, presented within
        `OIDC_REFRESH_REUSE_GRACE_SECONDS` of it: such a request raced the rotation (sent
        together, or a retry after a lost response) and is refused without revoking, so the
        family that won stays intact.
        """
        family = policy.refresh_token_family(value)
        grant = (
            Grant.objects.filter(family=family, client=self.client, revoked_at__isnull=True)
            .only("pk", "last_used_at", "previous_refresh_hash")
            .first()
            if family
            else None
        )
        if grant is None:
            return
        grace = _setting_seconds("OIDC_REFRESH_REUSE_GRACE_SECONDS")
        raced = secrets.compare_digest(policy.fingerprint(value), grant.previous_refresh_hash)
        if raced and grant.last_used_at and self.now - grant.last_used_at < grace:
            return
        logger.warning("refresh token reuse for grant %s: grant revoked", grant.pk)
        invalid.aftermath.append(lambda: revoke_grant(grant.pk))

    # --- client_credentials (confidential clients only)

    def client_credentials(self) -> TokenAnswer:
        requested = self.param("scope").split()
        allowed = set(self.client.scope)
        if not allowed or set(requested) - allowed:
            raise TokenRefusal("invalid_scope", "The scope exceeds what this client may get.")
        token = create_token(user=None, client=self.client, scope=requested or self.client.scope)
        token.save()
        body = {
            "access_token": token.access_token,
            "token_type": "Bearer",
            "expires_in": settings.OIDC_TOKEN_EXPIRE,
            "scope": " ".join(token.scope),
        }
        return TokenAnswer(body)


def run_token_endpoint(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """The token endpoint's status and JSON body; a refusal's aftermath is committed."""
    endpoint = TokenEndpoint(request)
    try:
        with writes.write_transaction():
            answer = endpoint.respond()
    except TokenRefusal as refusal:
        if refusal.aftermath:
            with transaction.atomic():
                for step in refusal.aftermath:
                    step()
        return refusal.status, refusal.body()
    except TokenError as error:  # raised by library helpers
        return 400, error.create_dict()
    return 200, endpoint.signed(answer)


# --- RFC 7009 revocation


def revoke(request: HttpRequest) -> tuple[int, dict[str, Any]]:
    """Revoke a refresh token (and its whole grant) or an access token (RFC 7009 §2.1).

    Unknown and malformed tokens get 200 like revoked ones (§2.2): the client cannot tell.
    """
    form = request.POST
    if repeated := repeated_param(form, ("token", "token_type_hint", "client_id")):
        return 400, {"error": "invalid_request", "error_description": f"{repeated} repeated."}
    value = form.get("token", "")
    if not value:
        return 400, {"error": "invalid_request", "error_description": "token is missing."}
    try:
        with transaction.atomic():
            oidc_client = authenticate_client(request)
            if policy.is_opaque_value(value):
                revoke_token(oidc_client, value, form.get("token_type_hint", ""))
    except TokenRefusal as refusal:
        return refusal.status, refusal.body()
    return 200, {}


def revoke_token(oidc_client: OIDCClient, value: str, hint: str) -> None:
    by_refresh = Q(refresh_token=value)
    by_access = Q(access_token=value)
    lookups = (by_access, by_refresh) if hint == "access_token" else (by_refresh, by_access)
    for lookup in lookups:
        token = (
            Token.objects.select_related("grant_link").filter(lookup, client=oidc_client).first()
        )
        if token is None:
            continue
        grant_link = getattr(token, "grant_link", None)
        if lookup is by_access:
            # An access token alone: end it, keep the refresh token (§2.1 makes that a MAY).
            Token.objects.filter(pk=token.pk).update(expires_at=timezone.now())
        elif grant_link is not None:
            revoke_grant(grant_link.grant_id)
        else:
            token.delete()
        return
    family = policy.refresh_token_family(value)
    grant = Grant.objects.filter(family=family, client=oidc_client).first() if family else None
    if grant is not None:  # an earlier refresh token of the grant: the grant goes
        revoke_grant(grant.pk)


# --- userinfo (OIDC Core §5.3, RFC 6750)


@dataclass(frozen=True)
class BearerRefusal(Exception):
    error: str
    description: str
    status: int


def bearer_token(request: HttpRequest) -> str:
    """The access token from the Authorization header or a form body (RFC 6750 §2.1, §2.2).

    Tokens in the query string are refused: they end up in logs (RFC 9700 §4.3.2).
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    in_body = request.method == "POST" and "access_token" in request.POST
    if "access_token" in request.GET:
        raise BearerRefusal("invalid_request", "Send the token in the Authorization header.", 400)
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or in_body:
            raise BearerRefusal("invalid_request", "Use one Bearer token.", 400)
        return value.strip()
    if in_body:
        if len(request.POST.getlist("access_token")) > 1:
            raise BearerRefusal("invalid_request", "Use one Bearer token.", 400)
        return request.POST["access_token"]
    raise BearerRefusal("invalid_token", "An access token is required.", 401)


def userinfo_claims(request: HttpRequest) -> dict[str, Any]:
    value = bearer_token(request)
    invalid = BearerRefusal("invalid_token", "The access token is invalid or expired.", 401)
    if not policy.is_opaque_value(value):
        raise invalid
    token = token_sql.token_for_userinfo(value)
    if token is None or token.has_expired() or token.user is None:
        raise invalid  # a token with no user (client_credentials) has no userinfo
    if "openid" not in token.scope:
        raise BearerRefusal("insufficient_scope", "The token lacks the openid scope.", 403)
    claims = {"sub": (token.id_token or {}).get("sub") or str(token.user.pk)}
    claims.update(StandardScopeClaims(token).create_response_dic())
    if library_setting("OIDC_EXTRA_SCOPE_CLAIMS"):
        extra = library_setting("OIDC_EXTRA_SCOPE_CLAIMS", import_str=True)(token)
        claims.update(extra.create_response_dic())
    return claims


# --- RP-initiated logout: id_token_hint


class InvalidHint(ValueError):
    """An id_token_hint that is malformed, not ours, or signed with a key we do not hold."""


def _verification_keys(oidc_client: OIDCClient) -> list[tuple[str | None, Any]]:
    """(kid, key) pairs that may have signed this client's ID tokens, for its jwt_alg.

    RS256 and ES256: the public halves of our keys. HS256: the client secret, as the library
    signs. Any other value in the column: none, so no hint of that client verifies.
    """
    if oidc_client.jwt_alg in keys.ALGORITHMS:
        return [
            (key.kid, key.private_key.public_key())
            for key in keys.signing_keys(oidc_client.jwt_alg)
        ]
    if oidc_client.jwt_alg == "HS256":
        return [(None, oidc_client.client_secret)]
    return []


def verify_id_token_hint(hint: str, issuer: str) -> tuple[OIDCClient, dict[str, Any]]:
    """Verify the hint's signature and issuer; expiry is not checked (RP-Initiated Logout §2).

    Raises InvalidHint.
    """
    try:
        unverified = jwt.decode(hint, options={"verify_signature": False})
        header = jwt.get_unverified_header(hint)
    except jwt.PyJWTError as exc:
        raise InvalidHint("not a JWT") from exc
    audience = unverified.get("aud")
    client_id = audience[0] if isinstance(audience, list) and audience else audience
    if not isinstance(client_id, str) or not policy.is_opaque_value(client_id):
        raise InvalidHint("no audience")
    oidc_client = OIDCClient.objects.filter(client_id=client_id).first()
    if oidc_client is None or signs_with_empty_key(oidc_client):
        raise InvalidHint("unknown client")
    alg = oidc_client.jwt_alg
    if header.get("alg") != alg:
        raise InvalidHint("unexpected algorithm")
    for kid, key in _verification_keys(oidc_client):
        if kid is not None and header.get("kid") not in (None, kid):
            continue
        try:
            claims = jwt.decode(
                hint,
                key=key,
                algorithms=[alg],
                audience=client_id,
                issuer=issuer,
                options={"verify_exp": False, "require": ["iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:
            continue
        return oidc_client, claims
    raise InvalidHint("bad signature or issuer")
