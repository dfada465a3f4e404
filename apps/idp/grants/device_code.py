"""grant_type=urn:ietf:params:oauth:grant-type:device_code: RFC 8628 §3.4, §3.5.

The device polls with its device code until the person answers at /device. Each poll is
recorded (its time, and the interval, grown by 5 s after a too-early poll) as the refusal's
consequence: the refusal rolls the request's own writes back. Once approved, the code is
redeemed once, and the tokens are the code flow's: linked to the approval's `Grant`, so
rotation, reuse detection and revocation apply unchanged.
"""

import logging
from functools import partial

from django.conf import settings
from oidc_provider.lib.utils.token import create_token

from apps.idp import dpop_binding, policy, rfc8628, rfc8707
from apps.idp.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    SlowDown,
)
from apps.idp.grants.common import (
    TokenAnswer,
    TokenRequest,
    authenticate_client,
    check_can_sign_for,
    first_row,
    issue,
    revoke_grant,
)
from apps.idp.models import DeviceAuthorization, Grant

logger = logging.getLogger(__name__)

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
PARAMS = ("device_code",)
INVALID = "The device code is invalid or already used."


def handle(request: TokenRequest) -> TokenAnswer:
    value = request.param("device_code")

    client = authenticate_client(request.http)
    check_can_sign_for(client)
    dpop_binding.check_client(request.proof, client)
    if not value:
        raise InvalidRequest("device_code is missing.")
    if not policy.is_opaque_value(value):
        raise InvalidGrant(INVALID)

    device_code_hash = policy.token_hash(value)
    authorization = first_row(
        DeviceAuthorization.objects.select_for_update(of=("self",))
        .select_related("user", "grant")
        .filter(device_code_hash=device_code_hash, client=client)
    )
    if authorization is None or authorization.status == DeviceAuthorization.USED:
        # Redeemed already (its row may be purged since; its grant, named by the hash, is
        # kept): whoever presents it again, the tokens issued from it are revoked.
        grant = first_row(Grant.objects.filter(code_hash=device_code_hash, client=client))
        if grant is not None and grant.exchanged_at is not None:
            logger.warning("device code replay for grant %s: grant revoked", grant.pk)
            raise InvalidGrant(INVALID, consequence=partial(revoke_grant, grant.pk))
        raise InvalidGrant(INVALID)
    if request.now >= authorization.expires_at:
        raise ExpiredToken("The device code has expired: start again.")
    if authorization.status == DeviceAuthorization.DENIED:
        raise AccessDenied("The person denied the request.")
    if authorization.status == DeviceAuthorization.PENDING:
        refuse_pending(request, authorization)

    grant = authorization.grant
    if grant is None or grant.revoked_at is not None or authorization.user is None:
        raise InvalidGrant(INVALID)
    rfc8707.token_request_resource(
        request.form.getlist(rfc8707.PARAM), grant.resource, settings.OIDC_RESOURCES
    )
    claimed = DeviceAuthorization.objects.filter(
        pk=authorization.pk, status=DeviceAuthorization.APPROVED
    ).update(status=DeviceAuthorization.USED, last_polled_at=request.now)
    exchanged = Grant.objects.filter(pk=grant.pk, exchanged_at__isnull=True).update(
        exchanged_at=request.now, last_used_at=request.now
    )
    if claimed != 1 or exchanged != 1:
        raise InvalidGrant(INVALID)  # another poll redeemed it first
    scope = authorization.scope.split()
    token = create_token(user=authorization.user, client=client, scope=scope)
    token.refresh_token = policy.new_refresh_token(grant.family)
    return issue(
        request, token, grant, user=authorization.user, nonce=None, openid="openid" in scope
    )


def refuse_pending(request: TokenRequest, authorization: DeviceAuthorization) -> None:
    """No answer yet: authorization_pending, or slow_down for a poll before the interval."""
    interval = authorization.interval
    if rfc8628.polled_too_fast(authorization.last_polled_at, request.now, interval):
        interval += rfc8628.SLOW_DOWN_SECONDS
        record = partial(record_poll, authorization.pk, request.now, interval)
        raise SlowDown(f"Poll at most every {interval} seconds.", consequence=record)
    record = partial(record_poll, authorization.pk, request.now, interval)
    raise AuthorizationPending("The person has not answered yet.", consequence=record)


def record_poll(authorization_id: int, polled_at, interval: int) -> None:
    DeviceAuthorization.objects.filter(pk=authorization_id).update(
        last_polled_at=polled_at, interval=interval
    )
