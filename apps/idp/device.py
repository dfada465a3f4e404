"""The device authorization grant's records (RFC 8628): starting one, and a person's answer.

The endpoints are edges: `endpoints/device_authorization.py` (the device asks),
`views.device` (the person answers at /device) and `grants/device_code.py` (the device polls).
Every public client may use this grant, as every public client may use the code flow.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse
from oidc_provider.models import Client as OIDCClient

from apps.idp import policy, registration, rfc8628
from apps.idp.claims import ScopeDescriptions
from apps.idp.errors import InvalidScope, UnauthorizedClient
from apps.idp.models import DeviceAuthorization, Grant, RegisteredClient, WrongUserCode


@dataclass(frozen=True)
class Started:
    """What the device shows and keeps: the answer of RFC 8628 §3.2."""

    device_code: str
    user_code: str  # as shown, with the dash
    expires_in: int
    interval: int

    def body(self) -> dict[str, str | int]:
        verification_uri = settings.SITE_URL + reverse("device")
        return {
            "device_code": self.device_code,
            "user_code": self.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={self.user_code}",
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


def start(
    client: OIDCClient, requested_scope: list[str], now: datetime, resource: str = ""
) -> Started:
    """A new pending device authorization for `client` (RFC 8628 §3.1, §3.2); `resource`:
    the RFC 8707 resource, already checked."""
    if client.client_type != "public":
        raise UnauthorizedClient("The device grant is served to public clients only.")
    if not registered_for_device_grant(client):
        raise UnauthorizedClient("This client did not register for the device grant.")
    scope = policy.grantable_scopes(requested_scope or ["openid"], client.scope)
    if not scope:
        raise InvalidScope("No scope this client may get.")
    device_code = rfc8628.new_device_code()
    user_code = unused_user_code(now)
    expires_in = settings.OIDC_DEVICE_CODE_EXPIRE
    interval = settings.OIDC_DEVICE_POLL_INTERVAL
    DeviceAuthorization.objects.create(
        client=client,
        device_code_hash=policy.token_hash(device_code),
        user_code=user_code,
        scope=" ".join(scope),
        resource=resource,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in),
        interval=interval,
    )
    return Started(device_code, rfc8628.display_user_code(user_code), expires_in, interval)


def registered_for_device_grant(client: OIDCClient) -> bool:
    """Every public client may use the device grant, except one that registered itself
    (RFC 7591) without asking for it."""
    try:
        registered = client.self_registration
    except RegisteredClient.DoesNotExist:
        return True
    return registration.DEVICE_GRANT in registered.grant_types.split()


def unused_user_code(now: datetime) -> str:
    """A user code no live authorization has; an expired holder of the same code is dropped
    (the column is unique: a code names one authorization)."""
    while True:
        code = rfc8628.new_user_code()
        DeviceAuthorization.objects.filter(user_code=code, expires_at__lte=now).delete()
        if not DeviceAuthorization.objects.filter(user_code=code).exists():
            return code


# --- the verification page (/device)


def wrong_codes_recently(user: AbstractBaseUser, now: datetime) -> int:
    window = timedelta(seconds=settings.OIDC_DEVICE_USER_CODE_WINDOW_SECONDS)
    return WrongUserCode.objects.filter(user=user, at__gt=now - window).count()


def is_locked_out(user: AbstractBaseUser, now: datetime) -> bool:
    limit = settings.OIDC_DEVICE_USER_CODE_FAILURE_LIMIT
    return rfc8628.too_many_wrong_user_codes(wrong_codes_recently(user, now), limit)


def record_wrong_code(user: AbstractBaseUser, now: datetime) -> None:
    WrongUserCode.objects.create(user=user, at=now)


def pending_for(typed: str, now: datetime, *, lock: bool = False) -> DeviceAuthorization | None:
    """The live, unanswered authorization a typed user code names, or None."""
    code = rfc8628.normalize_user_code(typed)
    if code is None:
        return None
    rows = DeviceAuthorization.objects.select_related("client")
    if lock:
        rows = rows.select_for_update(of=("self",))
    return rows.filter(
        user_code=code, status=DeviceAuthorization.PENDING, expires_at__gt=now
    ).first()


def scopes_shown(authorization: DeviceAuthorization) -> list[dict[str, str]]:
    """The scopes as the code flow's consent page describes them (apps.idp.claims)."""
    return ScopeDescriptions.get_scopes_info(authorization.scope.split())


def approve(authorization: DeviceAuthorization, user: AbstractBaseUser, now: datetime) -> Grant:
    """The person allowed it: a grant as the code flow's consent makes, its `code_hash` the
    device code's hash. The device's next poll gets the tokens."""
    grant = Grant.objects.create(
        client=authorization.client,
        code_hash=authorization.device_code_hash,
        family=policy.new_family(),
        redirect_uri="",  # none: the device polls for its tokens
        created_at=now,
        resource=authorization.resource,
    )
    authorization.status = DeviceAuthorization.APPROVED
    authorization.user = user
    authorization.grant = grant
    authorization.save(update_fields=["status", "user", "grant"])
    return grant


def deny(authorization: DeviceAuthorization, user: AbstractBaseUser) -> None:
    authorization.status = DeviceAuthorization.DENIED
    authorization.user = user
    authorization.save(update_fields=["status", "user"])
