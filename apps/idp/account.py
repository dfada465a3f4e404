"""A person's own grants: which applications may act for them, and taking that back."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch

from apps.idp.grants.common import revoke_grant
from apps.idp.models import Grant, IssuedToken


@dataclass(frozen=True)
class GrantSummary:
    grant_id: int
    client_name: str
    scopes: tuple[str, ...]
    since: datetime
    last_used: datetime | None


def _live_grants_of(user: AbstractBaseUser):
    return Grant.objects.filter(issued__token__user=user, revoked_at__isnull=True).distinct()


def grants_of(user: AbstractBaseUser) -> list[GrantSummary]:
    """The user's grants that are not revoked, newest first."""
    grants = (
        _live_grants_of(user)
        .select_related("client")
        .prefetch_related(Prefetch("issued", IssuedToken.objects.select_related("token")))
        .order_by("-created_at")
    )
    return [
        GrantSummary(
            grant_id=grant.pk,
            client_name=grant.client.name,
            scopes=tuple(dict.fromkeys(s for link in grant.issued.all() for s in link.token.scope)),
            since=grant.created_at,
            last_used=grant.last_used_at,
        )
        for grant in grants
    ]


def revoke_grant_of(user: AbstractBaseUser, grant_id: int) -> bool:
    """Revoke one of the user's grants (its refresh token stops at once); False if not theirs."""
    if not _live_grants_of(user).filter(pk=grant_id).exists():
        return False
    revoke_grant(grant_id)
    return True
