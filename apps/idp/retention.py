"""What `manage.py purge_expired` deletes: rows that can no longer be used, in small batches.

Nothing here deletes what could still be presented: a grant goes once it is past its idle or
absolute refresh lifetime (or its code expired unused), or was revoked more than
`revoked_after` ago (kept that long for the replay and reuse detection that names it); its
tokens go with it. A client that registered itself (RFC 7591) and, `unused_registration`
after registering, has no grant and no device authorization left goes too: nobody uses it.
Each batch is its own short transaction, so the token endpoint's writers wait at most one
batch (on SQLite they queue with the purge in `writes.write_transaction`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.sessions.models import Session
from django.db.models import Exists, Model, OuterRef, Q, QuerySet
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, Token, UserConsent

from apps.idp import writes
from apps.idp.models import (
    DeviceAuthorization,
    DPoPProofUse,
    Grant,
    RegisteredClient,
    WrongUserCode,
)


@dataclass(frozen=True)
class Lifetimes:
    """The settings that decide what is dead, as timedeltas."""

    code: timedelta  # OIDC_CODE_EXPIRE
    refresh_idle: timedelta  # OIDC_REFRESH_IDLE_SECONDS
    refresh_absolute: timedelta  # OIDC_REFRESH_ABSOLUTE_SECONDS
    revoked_after: timedelta  # OIDC_PURGE_REVOKED_AFTER_DAYS: revoked grants kept this long
    login_records: timedelta  # django-axes' records kept this long (the same setting)
    lockout: timedelta  # AXES_COOLOFF_TIME: a failed-attempt counter lives this long
    # OIDC_REGISTRATION_UNUSED_SECONDS: a self-registered client with no grant lives this long
    unused_registration: timedelta = timedelta(days=1)


def dead_grants(now: datetime, lifetimes: Lifetimes) -> Q:
    never_exchanged = Q(exchanged_at__isnull=True, created_at__lt=now - lifetimes.code)
    idle = Q(last_used_at__lt=now - lifetimes.refresh_idle)
    absolute = Q(created_at__lt=now - lifetimes.refresh_absolute)
    revoked = Q(revoked_at__lt=now - lifetimes.revoked_after)
    return never_exchanged | idle | absolute | revoked


def unused_registrations(now: datetime, lifetimes: Lifetimes) -> QuerySet:
    """Self-registered clients past `unused_registration` with nothing that uses them."""
    return OIDCClient.objects.filter(
        Exists(
            RegisteredClient.objects.filter(
                client=OuterRef("pk"), registered_at__lt=now - lifetimes.unused_registration
            )
        ),
        ~Exists(Grant.objects.filter(client=OuterRef("pk"))),
        ~Exists(DeviceAuthorization.objects.filter(client=OuterRef("pk"))),
    )


def _delete_grants(pks: list[int]) -> int:
    Token.objects.filter(grant_link__grant_id__in=pks).delete()
    deleted, _ = Grant.objects.filter(pk__in=pks).delete()
    return deleted


def _delete_rows(model: type[Model]) -> Callable[[list[int]], int]:
    def delete(pks: list[int]) -> int:
        return model.objects.filter(pk__in=pks).delete()[0]

    return delete


def _in_batches(rows: QuerySet, delete: Callable[[list[int]], int], batch_size: int) -> int:
    """Delete what `rows` matches, `batch_size` rows per transaction; the number of rows."""
    total = 0
    while pks := list(rows.values_list("pk", flat=True)[:batch_size]):
        with writes.write_transaction():
            delete(pks)
        total += len(pks)
    return total


def purge(now: datetime, lifetimes: Lifetimes, *, batch_size: int = 500) -> dict[str, int]:
    """Delete every expired row; how many of each kind. Idempotent: a second run finds none."""
    targets: dict[str, tuple[QuerySet, Callable[[list[int]], int]]] = {
        "grants (with their tokens)": (
            Grant.objects.filter(dead_grants(now, lifetimes)),
            _delete_grants,
        ),
        # Tokens of no grant: client_credentials, whose access token is all there is.
        "tokens of no grant": (
            Token.objects.filter(grant_link__isnull=True, expires_at__lt=now),
            _delete_rows(Token),
        ),
        "codes": (Code.objects.filter(expires_at__lt=now), _delete_rows(Code)),
        "consents": (UserConsent.objects.filter(expires_at__lt=now), _delete_rows(UserConsent)),
        # A redeemed device code's replay is still recognised by its grant (code_hash).
        "device authorizations": (
            DeviceAuthorization.objects.filter(expires_at__lt=now),
            _delete_rows(DeviceAuthorization),
        ),
        # After the grants and device authorizations: a client whose last grant was just
        # purged, long unused, goes in the same run.
        "unused self-registered clients": (
            unused_registrations(now, lifetimes),
            _delete_rows(OIDCClient),
        ),
        "wrong user codes": (
            WrongUserCode.objects.filter(at__lt=now - lifetimes.login_records),
            _delete_rows(WrongUserCode),
        ),
        # A proof past its iat window is refused anyway: its jti need not be remembered.
        "DPoP proof uses": (
            DPoPProofUse.objects.filter(expires_at__lt=now),
            _delete_rows(DPoPProofUse),
        ),
        "sessions": (Session.objects.filter(expire_date__lt=now), _delete_rows(Session)),
        "failed sign-in counters": (
            AccessAttempt.objects.filter(attempt_time__lt=now - lifetimes.lockout),
            _delete_rows(AccessAttempt),
        ),
        "sign-in records": (
            AccessLog.objects.filter(attempt_time__lt=now - lifetimes.login_records),
            _delete_rows(AccessLog),
        ),
        "failed sign-in records": (
            AccessFailureLog.objects.filter(attempt_time__lt=now - lifetimes.login_records),
            _delete_rows(AccessFailureLog),
        ),
    }
    return {
        name: _in_batches(rows.order_by("pk"), delete, batch_size)
        for name, (rows, delete) in targets.items()
    }
