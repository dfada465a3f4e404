"""Dynamic client registration (RFC 7591) for public native clients: the rules, no I/O.

Only what a command-line or desktop tool on the person's own machine needs is registered:
a public client (`token_endpoint_auth_method` `none`: it could keep no secret), the code
flow with PKCE, refresh and the device grant, and redirect URIs on the loopback interface
(RFC 8252 §7.3, `http://127.0.0.1:<any port>/…` or `[::1]`) or the receiver page. Anything
else (a web redirect URI, a confidential client, the implicit flow) needs a person at the
admin who knows the application; here it is refused with RFC 7591 §3.2.2's errors.
Metadata this IdP does not understand is ignored, as §2 asks, and left out of the answer.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from apps.idp import policy
from apps.idp.errors import OAuthError
from apps.idp.redirect_uris import LOOPBACK_LITERALS, RedirectURIError, check_redirect_uri

AUTH_METHOD = "none"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = ("authorization_code", "refresh_token", DEVICE_GRANT)
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
MAX_CLIENT_NAME = 100  # the library's Client.name column
MAX_REDIRECT_URIS = 10


class InvalidRedirectUri(OAuthError):
    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


@dataclass(frozen=True)
class ClientMetadata:
    """What is registered: the answer's metadata (RFC 7591 §3.2.1) without the ids."""

    client_name: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]

    @property
    def response_types(self) -> tuple[str, ...]:
        return ("code",) if "authorization_code" in self.grant_types else ()

    def as_json(self) -> dict[str, Any]:
        return {
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": list(self.grant_types),
            "response_types": list(self.response_types),
            "token_endpoint_auth_method": AUTH_METHOD,
            "application_type": "native",
            "scope": " ".join(self.scope),
        }


def _strings(body: dict[str, Any], name: str, default: Iterable[str]) -> tuple[str, ...]:
    value = body.get(name, list(default))
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings.")
    return tuple(dict.fromkeys(value))


def check_native_redirect_uri(uri: str, receiver_url: str) -> None:
    """Raise InvalidRedirectUri unless `uri` is a loopback URI or the receiver page."""
    if uri == receiver_url:
        return
    try:
        check_redirect_uri(uri)  # no fragment, no wildcard, no credentials, a host
    except RedirectURIError as exc:
        raise InvalidRedirectUri(str(exc)) from None
    parts = urlsplit(uri)
    if parts.scheme != "http" or not _is_loopback_literal(parts.hostname or ""):
        raise InvalidRedirectUri(
            f"{uri!r}: a registered client may only use http://127.0.0.1/… or http://[::1]/… "
            "(RFC 8252 §7.3) or the receiver page; ask the IdP's operators for anything else."
        )


def _is_loopback_literal(host: str) -> bool:
    try:
        return str(ipaddress.ip_address(host)) in LOOPBACK_LITERALS  # what matches any port
    except ValueError:
        return False  # a name, `localhost` included (RFC 8252 §8.3)


def parse_metadata(
    body: Any, *, receiver_url: str, supported_scopes: Iterable[str]
) -> ClientMetadata:
    """The registration request's metadata, checked; raises InvalidClientMetadata or
    InvalidRedirectUri (RFC 7591 §3.2.2)."""
    if not isinstance(body, dict):
        raise InvalidClientMetadata("The request body must be a JSON object.")
    method = body.get("token_endpoint_auth_method", AUTH_METHOD)
    if method != AUTH_METHOD:
        # §2: the default is client_secret_basic; this IdP registers public clients only.
        raise InvalidClientMetadata("Only public clients register here: use `none`.")
    if body.get("application_type", "native") != "native":
        raise InvalidClientMetadata("Only native applications register here.")
    grant_types = _strings(body, "grant_types", DEFAULT_GRANT_TYPES)
    if not grant_types or set(grant_types) - set(GRANT_TYPES):
        raise InvalidClientMetadata(f"grant_types must be among {', '.join(GRANT_TYPES)}.")
    response_types = _strings(
        body, "response_types", ("code",) if "authorization_code" in grant_types else ()
    )
    expected = {"code"} if "authorization_code" in grant_types else set()
    if set(response_types) != expected:
        # §2.1: response_types and grant_types must agree; only the code flow is served.
        raise InvalidClientMetadata('response_types must be ["code"] with authorization_code.')
    redirect_uris = _strings(body, "redirect_uris", ())
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidRedirectUri("The code flow needs at least one redirect URI.")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"At most {MAX_REDIRECT_URIS} redirect URIs.")
    for uri in redirect_uris:
        check_native_redirect_uri(uri, receiver_url)
    name = body.get("client_name", "")
    if not isinstance(name, str) or len(name) > MAX_CLIENT_NAME:
        raise InvalidClientMetadata(f"client_name must be a string of at most {MAX_CLIENT_NAME}.")
    if policy.has_control_characters(name):
        raise InvalidClientMetadata("client_name has control characters.")
    scope_text = body.get("scope", "")
    if not isinstance(scope_text, str):
        raise InvalidClientMetadata("scope must be a space-separated string.")
    supported = tuple(supported_scopes)
    asked = scope_text.split() or list(supported)
    scope = tuple(s for s in dict.fromkeys(asked) if s in supported)  # others dropped (§2)
    if "refresh_token" not in grant_types:
        scope = tuple(s for s in scope if s != policy.OFFLINE_ACCESS)  # no refresh token then
    if not scope:
        raise InvalidClientMetadata("No scope this IdP serves was asked for.")
    return ClientMetadata(
        client_name=name.strip() or "Unnamed application",
        redirect_uris=redirect_uris,
        grant_types=grant_types,
        scope=scope,
    )


def registrations_left(recent_from_address: int, limit: int) -> bool:
    """May one more client register from an address that registered `recent` lately?"""
    return recent_from_address < limit
