"""Calling the protected API with the access token (RFC 6750 §2.1, RFC 9449 §7). No Django.

`fetch_profile` is the protocol step, `report_profile` the one line the client prints after
sign-in and after each refresh; both take the API's address, so any caller that learnt it
another way (a flag, resource discovery) can use them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import requests

from apps.client.dpop import DPoPKey
from apps.client.errors import OIDCError
from apps.client.text import to_printable
from apps.client.transport import answer, send_with_proof


@dataclass(frozen=True)
class Profile:
    """What /api/profile answers: who the token is about, its scopes, the client it went to."""

    sub: str
    scope: tuple[str, ...]
    client_id: str


def fetch_profile(
    http: requests.Session, url: str, *, access_token: str, dpop: DPoPKey | None = None
) -> Profile:
    """GET `url` with the token: as `DPoP` with a proof of `dpop` (its `ath` included), else
    as `Bearer`. Refusals (RFC 6750 §3) come back as OAuthError."""
    response = send_with_proof(
        http,
        "GET",
        url,
        dpop=dpop,
        access_token=access_token,
        headers={"Accept": "application/json"},
    )
    body = answer(response, "the resource server")
    sub, client_id, scope = body.get("sub"), body.get("client_id"), body.get("scope")
    if isinstance(scope, str):
        scope = scope.split()
    if not isinstance(sub, str) or not isinstance(client_id, str) or not isinstance(scope, list):
        raise OIDCError("the resource server answered without sub, scope and client_id")
    return Profile(
        sub=to_printable(sub, limit=100),
        scope=tuple(to_printable(str(name), limit=100) for name in scope),
        client_id=to_printable(client_id, limit=100),
    )


def describe_profile(profile: Profile, *, dpop: bool) -> str:
    scheme = "DPoP" if dpop else "Bearer"
    return (
        f"resource OK: sub={profile.sub} scope={' '.join(profile.scope)} "
        f"client={profile.client_id} ({scheme})"
    )


def report_profile(
    http: requests.Session,
    url: str,
    *,
    access_token: str,
    dpop: DPoPKey | None,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> Profile | None:
    """One line: the profile, or why the API refused; a refusal does not stop the client."""
    try:
        profile = fetch_profile(http, url, access_token=access_token, dpop=dpop)
    except OIDCError as exc:
        warn(f"resource failed: {exc} ({url})")
        return None
    say(describe_profile(profile, dpop=dpop is not None))
    return profile
