"""The token endpoint (code exchange, refresh), userinfo and revocation (RFC 6749, 7009)."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import requests

from apps.client.authorization import RelyingParty
from apps.client.discovery import Provider
from apps.client.dpop import DPoPKey
from apps.client.errors import OIDCError
from apps.client.text import to_printable
from apps.client.transport import answer, send_with_proof

TOKEN_ENDPOINT = "the token endpoint"  # noqa: S105 (a name for messages, not a secret)
BEARER = "Bearer"  # RFC 6750
DPOP = "DPoP"  # RFC 9449 §5: bound to the key of the proof that came with the request


@dataclass(frozen=True)
class Tokens:
    """A token response. `expires_at` is seconds since the epoch, from the `now` passed in."""

    access_token: str = field(repr=False)
    expires_at: float | None
    refresh_token: str | None = field(repr=False, default=None)
    id_token: str | None = field(repr=False, default=None)
    scope: str | None = None
    token_type: str = BEARER  # or DPOP

    @property
    def dpop_bound(self) -> bool:
        return self.token_type == DPOP


def _token_type(body: dict[str, Any], *, proof_sent: bool, source: str) -> str:
    kind = str(body.get("token_type", "")).lower()  # RFC 6749 §7.1: case-insensitive
    if kind == "bearer":  # also the answer of a server without DPoP to a proof (§5)
        return BEARER
    if kind == "dpop" and proof_sent:
        return DPOP
    if kind == "dpop":
        raise OIDCError(f"{source} issued a DPoP token, but this request carried no proof")
    raise OIDCError(f"{source} issued a {body.get('token_type')!r} token, not Bearer or DPoP")


def _tokens(body: dict[str, Any], *, now: float, source: str, proof_sent: bool = False) -> Tokens:
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise OIDCError(f"{source} answered without an access_token")
    token_type = _token_type(body, proof_sent=proof_sent, source=source)
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
        token_type=token_type,
    )


def _token_request(
    http: requests.Session,
    provider: Provider,
    form: dict[str, str],
    *,
    now: float,
    dpop: DPoPKey | None = None,
) -> Tokens:
    """A POST to the token endpoint, with a DPoP proof of `dpop` when given (RFC 9449 §5)."""
    response = send_with_proof(http, "POST", provider.token_endpoint, dpop=dpop, data=form)
    body = answer(response, TOKEN_ENDPOINT)
    return _tokens(body, now=now, source=TOKEN_ENDPOINT, proof_sent=dpop is not None)


def exchange_code(
    http: requests.Session,
    provider: Provider,
    rp: RelyingParty,
    *,
    code: str,
    code_verifier: str,
    now: float,
    dpop: DPoPKey | None = None,
) -> Tokens:
    """Authorization code grant with PKCE (RFC 7636 §4.5); a public client sends no secret."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "client_id": rp.client_id,
        "code_verifier": code_verifier,
    }
    tokens = _token_request(http, provider, form, now=now, dpop=dpop)
    if tokens.id_token is None:  # OIDC Core §3.1.3.3: required for an openid request
        raise OIDCError(f"{TOKEN_ENDPOINT} issued no ID token (is 'openid' in the scope?)")
    return tokens


def refresh(
    http: requests.Session,
    provider: Provider,
    rp: RelyingParty,
    *,
    refresh_token: str,
    now: float,
    dpop: DPoPKey | None = None,
) -> Tokens:
    """Refresh token grant (RFC 6749 §6). Keeps the old refresh token if none was issued;
    a DPoP-bound one needs a proof of the same key (RFC 9449 §5)."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": rp.client_id,
    }
    tokens = _token_request(http, provider, form, now=now, dpop=dpop)
    if tokens.refresh_token is None:
        return dataclasses.replace(tokens, refresh_token=refresh_token)
    return tokens


def fetch_userinfo(
    http: requests.Session,
    provider: Provider,
    *,
    access_token: str,
    sub: str,
    dpop: DPoPKey | None = None,
) -> dict[str, Any]:
    """UserInfo claims; `sub` must equal the ID token's, or none may be used (§5.3.2).
    With `dpop`, the token goes as `Authorization: DPoP` with a proof (RFC 9449 §7.1)."""
    response = send_with_proof(
        http,
        "GET",
        provider.userinfo_endpoint,
        dpop=dpop,
        access_token=access_token,
        headers={"Accept": "application/json"},
    )
    claims = answer(response, "userinfo")
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
    dpop: DPoPKey | None = None,
) -> None:
    """RFC 7009 revocation, as a public client (client_id, no secret), with a proof of the
    key a DPoP-bound token is bound to."""
    if not provider.revocation_endpoint:
        raise OIDCError("the IdP advertises no revocation_endpoint")
    form = {"token": token, "token_type_hint": token_type_hint, "client_id": rp.client_id}
    answer(
        send_with_proof(http, "POST", provider.revocation_endpoint, dpop=dpop, data=form),
        "the revocation endpoint",
        empty_ok=True,  # RFC 7009 §2.2: the body of a 200 is ignored, usually empty
    )


DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4


def exchange_device_code(
    http: requests.Session,
    provider: Provider,
    rp: RelyingParty,
    *,
    device_code: str,
    now: float,
    dpop: DPoPKey | None = None,
) -> Tokens:
    """One poll of the token endpoint for a device code (RFC 8628 §3.4); the IdP's
    authorization_pending, slow_down, ... come back as OAuthError (§3.5)."""
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": device_code, "client_id": rp.client_id}
    return _token_request(http, provider, form, now=now, dpop=dpop)
