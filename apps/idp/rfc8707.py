"""Resource indicators (RFC 8707): which resource a token is for. Pure rules, no Django.

A client names the resource (the API) it wants a token for with `resource` at the
authorization and token endpoints. The value must be an absolute URI without a fragment
(§2); this IdP also wants it to be one it knows (`known`, from OIDC_RESOURCES), so a token
is never minted for an audience no resource server here checks. One resource per request:
a token meant for two APIs could be replayed by either at the other, which is what the
audience is there to stop (§1.1); asking for two is `invalid_target`.

The grant remembers the resource it was authorized for; a token request may repeat it but
never name another (§2.2: the token request's resource must be within the grant's).
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from apps.idp.errors import OAuthError

PARAM = "resource"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the resource is invalid, missing, unknown or malformed."""

    error = "invalid_target"


def check_resource_uri(value: str) -> None:
    """Raise InvalidTarget unless `value` is an absolute URI without a fragment (§2)."""
    if not value or value != value.strip() or any(ch.isspace() for ch in value):
        raise InvalidTarget("resource must be an absolute URI without spaces.")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidTarget("resource is not a URI.") from None
    if not parts.scheme or not parts.netloc:
        raise InvalidTarget("resource must be an absolute URI (RFC 8707 §2).")
    if "#" in value:
        raise InvalidTarget("resource must not have a fragment (RFC 8707 §2).")


def requested_resource(values: list[str], known: Iterable[str]) -> str:
    """The one resource a request names ("" for none), checked; raises InvalidTarget."""
    if not values:
        return ""
    if len(values) > 1:
        raise InvalidTarget("Ask for one resource per request.")
    value = values[0]
    check_resource_uri(value)
    if value not in set(known):
        raise InvalidTarget("This resource is not one this IdP issues tokens for.")
    return value


def token_request_resource(values: list[str], granted: str, known: Iterable[str]) -> str:
    """The audience of a token request's access token: the grant's resource, which a
    `resource` parameter may repeat but not change (§2.2); raises InvalidTarget."""
    asked = requested_resource(values, known) if values else ""
    if asked and asked != granted:
        raise InvalidTarget("resource is not the one this grant was authorized for.")
    return granted


def audience_claim(resource: str) -> dict[str, str]:
    """The introspection answer's `aud` (RFC 7662 §2.2): the resource, or nothing when
    the token is for no particular resource."""
    return {"aud": resource} if resource else {}
