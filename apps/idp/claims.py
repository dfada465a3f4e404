"""Userinfo claims from the Django user (OIDC Core §5.1), for OIDC_USERINFO."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _
from oidc_provider import settings as library_settings
from oidc_provider.lib.claims import STANDARD_CLAIMS, ScopeClaims, StandardScopeClaims

# The user columns `userinfo` reads; apps.idp.token_sql loads only these for userinfo.
USERINFO_USER_FIELDS = ("username", "first_name", "last_name", "email")


def userinfo(claims: dict[str, Any], user: AbstractBaseUser) -> dict[str, Any]:
    """Fill the standard claims django-oidc-provider hands out per scope.

    Empty values are dropped by the library, so a user without a last name simply
    has no `family_name` claim.
    """
    given_name = getattr(user, "first_name", "")
    family_name = getattr(user, "last_name", "")
    email = getattr(user, "email", "")
    claims.update(
        name=f"{given_name} {family_name}".strip(),
        given_name=given_name,
        family_name=family_name,
        preferred_username=user.get_username(),
        email=email,
        # Addresses are typed in by an administrator and never confirmed by mail.
        email_verified=False if email else None,
    )
    return claims


class ScopesListedOnce(ScopeClaims):
    """The library's ScopeClaims, with its `scope_*` methods listed once per class, and its
    blank claims copied without `copy.deepcopy`.

    The library lists them with `dir()` of the class for each scope of the token, four
    times for a userinfo call with four scopes: 8 % of userinfo's CPU (bench/inprocess.py).
    Its deepcopy of STANDARD_CLAIMS, strings and one dict of strings, was another 5 %
    (py-spy under make bench): copying those two levels is the same copy.
    """

    _listed: dict[type, tuple[str, ...]] = {}

    def __init__(self, token: Any) -> None:
        self.user = token.user
        claims = {**STANDARD_CLAIMS, "address": dict(STANDARD_CLAIMS["address"])}
        fill = library_settings.get("OIDC_USERINFO", import_str=True)
        self.userinfo = fill(claims, self.user)
        self.scopes = token.scope
        self.client = token.client

    def _scopes_registered(self) -> tuple[str, ...]:
        cls = type(self)
        if cls not in ScopesListedOnce._listed:  # threads racing here list the same names
            ScopesListedOnce._listed[cls] = tuple(super()._scopes_registered())
        return ScopesListedOnce._listed[cls]


class StandardClaims(ScopesListedOnce, StandardScopeClaims):
    """The library's standard claims per scope (through OIDC_USERINFO), for userinfo."""


class ScopeDescriptions(ScopesListedOnce):
    """What the consent page says each scope releases, matching what `userinfo` fills in.

    The library's own text for `profile` promises gender and birthdate, which this IdP
    never releases. `offline_access` adds no claims (OIDC Core §11): it asks for a
    refresh token.
    """

    info_profile = (_("Your name"), _("Your name and username."))
    info_email = (_("Email address"), _("Your email address."))
    info_offline_access = (
        _("Stay connected"),
        _("Keep access while you are away, until you sign out or revoke it (refresh tokens)."),
    )

    def scope_offline_access(self) -> dict[str, Any]:
        return {}
