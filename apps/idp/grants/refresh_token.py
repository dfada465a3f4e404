"""grant_type=refresh_token: RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2).

Speed matters here (the busiest grant): the presented token is read with its client, grant
and user in one prebuilt query (`token_sql.find_refresh_token`), and that client is the one
client authentication checks, so a refresh reads nothing else. The rotation replaces the
token only if it is still the presented one, which is what makes one winner of concurrent
refreshes, so the lookup needs no lock and the grant takes its own transaction around the
rotation alone (`OWNS_TRANSACTION`, `rotation_transaction`).
"""

import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial

from django.conf import settings
from django.http import HttpRequest
from oidc_provider.lib.utils.token import create_token
from oidc_provider.models import Client as OIDCClient

from apps.idp import audit, dpop_binding, metrics, policy, rfc8707, token_sql, writes
from apps.idp.errors import InvalidGrant, InvalidRequest, InvalidScope
from apps.idp.grants.common import (
    TokenAnswer,
    TokenRequest,
    authenticate_client,
    check_can_sign_for,
    client_credentials,
    id_token_claims,
    keep_hashes_only,
    revoke_grant,
    setting_seconds,
    token_answer,
)
from apps.idp.models import Grant

logger = logging.getLogger(__name__)

GRANT_TYPE = "refresh_token"
PARAMS = ("refresh_token", "scope")
OWNS_TRANSACTION = True  # the token endpoint opens none: see rotation_transaction
INVALID = "The refresh token is invalid, expired or revoked."


def handle(request: TokenRequest) -> TokenAnswer:
    value, requested = request.param("refresh_token"), request.param("scope").split()

    presented = find_presented(request.http, value)
    client = authenticate_client(request.http, known=presented.token.client if presented else None)
    check_can_sign_for(client)
    dpop_binding.check_client(request.proof, client)
    if not value:
        raise InvalidRequest("refresh_token is missing.")
    if not policy.is_opaque_value(value):
        raise InvalidGrant(INVALID)
    if presented is None:
        raise InvalidGrant(INVALID, consequence=reuse_consequence(request, client, value))

    token, grant = presented.token, presented.grant
    if grant is None or grant.revoked_at is not None or token.user is None:
        raise InvalidGrant(INVALID)
    granted = grant.scopes or token.scope  # the grant's; the token's may have been narrowed
    if policy.OFFLINE_ACCESS not in granted or expired(request, grant):
        raise InvalidGrant(INVALID)
    if set(requested) - set(granted):
        raise InvalidScope("The scope exceeds what was granted.")
    if rfc8707.PARAM in request.form:  # the audience stays the grant's (RFC 8707 §2.2)
        rfc8707.token_request_resource(
            request.form.getlist(rfc8707.PARAM), grant.resource, settings.OIDC_RESOURCES
        )
    dpop_binding.check_grant(request.proof, grant, client, request.http)  # RFC 9449 §5

    # Only the access token is narrowed: the refresh token keeps the grant's scope (§6).
    fresh = create_token(user=token.user, client=client, scope=requested or granted)
    fresh.refresh_token = policy.new_refresh_token(grant.family)
    dpop_binding.bind(request.proof, fresh, None, client)  # the grant's key once rotated
    id_token = id_token_claims(request, fresh, token.user, None) if token.id_token else None
    fresh.id_token = id_token or {}
    issued = keep_hashes_only(fresh)
    # Rotate in place, only if nobody rotated it meanwhile: of concurrent requests with
    # the same refresh token exactly one matches this UPDATE (RFC 9700 §4.14.2). The row's
    # refresh_token is the presented value's hash: that is what found it, and what the grant
    # remembers as the token this rotation replaced.
    with rotation_transaction():
        rotated = token_sql.rotate(
            token.pk,
            token.refresh_token,
            fresh,
            grant_pk=grant.pk,
            used_at=request.now,
            replaced_hash=token.refresh_token,
        )
        if rotated:  # only the winner of a race binds the grant to its key
            dpop_binding.bind_grant(request.proof, grant, client)
    if not rotated:
        raise InvalidGrant(INVALID)
    return token_answer(fresh, issued, id_token, grant.pk, refreshable=True)


def rotation_transaction() -> AbstractContextManager:
    """None on PostgreSQL, where the rotation is one statement, atomic by itself: a refresh
    there is two round trips, not five (BEGIN, a locking SELECT, two UPDATEs, COMMIT). On
    SQLite the queued write transaction, its write lock held for the two UPDATEs only: the
    lookup, the checks and the new tokens' making happen before, outside it."""
    if token_sql.rotates_in_one_statement():
        return nullcontext()
    return writes.write_transaction()


def find_presented(http: HttpRequest, value: str) -> token_sql.PresentedRefresh | None:
    """The refresh token's row (found by the value's hash) with its client, grant and user;
    one query.

    Selected by the client_id the request names, so that client comes in the same query;
    when nothing matches, `authenticate_client` reads the client itself.
    """
    client_id, _ = client_credentials(http)
    if not (client_id and policy.is_opaque_value(value) and policy.is_opaque_value(client_id)):
        return None
    return token_sql.find_refresh_token(policy.token_hash(value), client_id)


def expired(request: TokenRequest, grant: Grant) -> bool:
    idle = setting_seconds("OIDC_REFRESH_IDLE_SECONDS")
    absolute = setting_seconds("OIDC_REFRESH_ABSOLUTE_SECONDS")
    last_used = grant.last_used_at or grant.created_at
    return request.now >= last_used + idle or request.now >= grant.created_at + absolute


def reuse_consequence(
    request: TokenRequest, client: OIDCClient, value: str
) -> Callable[[], None] | None:
    """A refresh token of a known family that is not its live one: revoke the grant.

    Unless it is the token the last rotation replaced, presented within
    `OIDC_REFRESH_REUSE_GRACE_SECONDS` of it: such a request raced the rotation (sent
    together, or a retry after a lost response) and is refused without revoking, so the
    family that won stays intact. None: nothing to revoke.
    """
    family = policy.refresh_token_family(value)
    grant = (
        Grant.objects.filter(family=family, client=client, revoked_at__isnull=True)
        .only("pk", "last_used_at", "previous_refresh_hash")
        .first()
        if family
        else None
    )
    if grant is None:
        return None
    grace = setting_seconds("OIDC_REFRESH_REUSE_GRACE_SECONDS")
    raced = secrets.compare_digest(policy.token_hash(value), grant.previous_refresh_hash)
    if raced and grant.last_used_at and request.now - grant.last_used_at < grace:
        return None
    logger.warning("refresh token reuse for grant %s: grant revoked", grant.pk)
    metrics.REFRESH_REUSE.inc()
    audit.record(
        "refresh.reuse_detected", request.http, client_id=client.client_id, grant_id=grant.pk
    )
    return partial(revoke_grant, grant.pk)
