"""The token endpoint (code exchange, refresh), userinfo and revocation (RFC 6749, 7009)."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import requests

from apps.client.authorization import RelyingParty
from apps.client.discovery import Provider
from apps.client.errors import OIDCError
from apps.client.text import to_printable
from apps.client.transport import answer, send

TOKEN_ENDPOINT = "the token endpoint"  # noqa: S105 (a name for messages, not a secret)


@dataclass(frozen=True)
class Tokens:
    """A token response. `expires_at` is seconds since the epoch, from the `now` passed in."""

    access_token: str = field(repr=False)
    expires_at: float | None
    refresh_token: str | None = field(repr=False, default=None)
    id_token: str | None = field(repr=False, default=None)
    scope: str | None = None


def _tokens(body: dict[str, Any], *, now: float, source: str) -> Tokens:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OIDCError(f"{source} answered without an access_token")
    if str(body.get("token_type", "")).lower() != "bearer":  # RFC 6749 §7.1: case-insensitive
        raise OIDCError(f"{source} issued a {body.get('token_type')!r} token, not a Bearer token")
    expires_in = body.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in < 0
    ):
        raise OIDCError(f"{source} answered expires_in={expires_in!r}")
    refresh_token = body.get("refresh_token")
    id_token = body.get("id_token")
    return Tokens(
        access_token=access_token,
        expires_at=now + expires_in if expires_in is not None else None,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        scope=body.get("scope") if isinstance(body.get("scope"), str) else None,
    )


def _token_request(
    http: requests.Session, provider: Provider, form: dict[str, str], *, now: float
) -> Tokens:
    body = answer(send(http, "POST", provider.token_endpoint, data=form), TOKEN_ENDPOINT)
    return _tokens(body, now=now, source=TOKEN_ENDPOINT)


def exchange_code(
    http: requests.Session,
    provider: Provider,
    rp: RelyingParty,
    *,
    code: str,
    code_verifier: str,
    now: float,
) -> Tokens:
    """Authorization code grant with PKCE (RFC 7636 §4.5); a public client sends no secret."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "client_id": rp.client_id,
        "code_verifier": code_verifier,
    }
    tokens = _token_request(http, provider, form, now=now)
    if tokens.id_token is None:  # OIDC Core §3.1.3.3: required for an openid request
        raise OIDCError(f"{TOKEN_ENDPOINT} issued no ID token (is 'openid' in the scope?)")
    return tokens


def refresh(
    http: requests.Session, provider: Provider, rp: RelyingParty, *, refresh_token: str, now: float
) -> Tokens:
    """Refresh token grant (RFC 6749 §6). Keeps the old refresh token if none was issued."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": rp.client_id,
    }
    tokens = _token_request(http, provider, form, now=now)
    if tokens.refresh_token is None:
        return dataclasses.replace(tokens, refresh_token=refresh_token)
    return tokens


def fetch_userinfo(
    http: requests.Session, provider: Provider, *, access_token: str, sub: str
) -> dict[str, Any]:
    """UserInfo claims; `sub` must equal the ID token's, or none may be used (§5.3.2)."""
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    claims = answer(send(http, "GET", provider.userinfo_endpoint, headers=headers), "userinfo")
    if claims.get("sub") != sub:
        raise OIDCError(
            f"userinfo is about sub {to_printable(str(claims.get('sub')))!r}, but the ID token "
            f"about {sub!r}: its claims cannot be used (OIDC Core §5.3.2)"
        )
    return claims


def revoke(
    http: requests.Session,
    provider: Provider,
    rp: RelyingParty,
    *,
    token: str,
    token_type_hint: str = "refresh_token",  # noqa: S107 (a hint's name, not a secret)
) -> None:
    """RFC 7009 revocation, as a public client (client_id, no secret)."""
    if not provider.revocation_endpoint:
        raise OIDCError("the IdP advertises no revocation_endpoint")
    form = {"token": token, "token_type_hint": token_type_hint, "client_id": rp.client_id}
    answer(
        send(http, "POST", provider.revocation_endpoint, data=form),
        "the revocation endpoint",
        empty_ok=True,  # RFC 7009 §2.2: the body of a 200 is ignored, usually empty
    )


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4


def exchange_device_code(
    http: requests.Session, provider: Provider, rp: RelyingParty, *, device_code: str, now: float
) -> Tokens:
    """One poll of the token endpoint for a device code (RFC 8628 §3.4); the IdP's
    authorization_pending, slow_down, ... come back as OAuthError (§3.5)."""
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": device_code, "client_id": rp.client_id}
    return _token_request(http, provider, form, now=now)
