"""From nothing but an API's address to a client registered at the API's IdP. No Django.

The chain (what MCP's authorization rules and RFC 9728 §5 describe): call the API without a
token; its 401's `WWW-Authenticate` names the API's metadata (`resource_metadata`, RFC 9728
§5.1); that document names the authorization server; the server's own metadata (RFC 8414)
names its registration endpoint; the client registers itself there (RFC 7591) and asks
its tokens for the API alone (`resource`, RFC 8707). Every document is checked before it is
believed: https only, the API's metadata must name the very address asked for (RFC 9728
§3.3), the server's must name the issuer the API pointed at (RFC 8414 §3.3). A mismatch
stops the client: whoever answered is not who the API says should issue its tokens.
"""

import re
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from apps.client.authorization import RelyingParty
from apps.client.errors import ClientAbort, OAuthError, OIDCError
from apps.client.store import StoredRegistration
from apps.client.terminal import Terminal
from apps.client.transport import answer, send

CLIENT_NAME = "pkce_client (command-line client of the IdP demo)"
LOOPBACK_REDIRECT_URI = "http://127.0.0.1/callback"  # any port at sign-in (RFC 8252 §7.3)
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
)


class DiscoveryMismatch(OIDCError):
    """A fetched document that does not vouch for what was asked: stop, believe none of it."""


class RegistrationStore(Protocol):
    where: str

    def load_registration(self, issuer: str) -> StoredRegistration | None: ...
    def save_registration(self, registration: StoredRegistration) -> None: ...
    def delete_registration(self, issuer: str) -> None: ...


@dataclass(frozen=True)
class ResourceServer:
    """What the API's metadata (RFC 9728 §2) says: its identifier and who issues its tokens."""

    resource: str
    metadata_url: str
    authorization_server: str


@dataclass(frozen=True)
class AuthorizationServer:
    issuer: str
    metadata_url: str
    registration_endpoint: str


def require_https(what: str, url: Any) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme != "https" or not urlsplit(url).netloc:
        raise DiscoveryMismatch(f"{what} is not an https URL: {url!r}")
    return url


def challenge_params(header: str) -> dict[str, str]:
    """The auth-params of a `WWW-Authenticate: Bearer ...` challenge (RFC 6750 §3)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return {}
    return dict(re.findall(r'(\w+)="([^"]*)"', rest))


def probe(http: requests.Session, api_url: str) -> str:
    """Call the API without a token; the address of its metadata, from the 401's challenge."""
    require_https("the API's address", api_url)
    response = send(http, "GET", api_url)
    if response.status_code != 401:
        raise OIDCError(
            f"{api_url} answered HTTP {response.status_code} without a token, not 401: it "
            "asks for no sign-in, or is not an OAuth-protected API"
        )
    params = challenge_params(response.headers.get("WWW-Authenticate", ""))
    if "resource_metadata" not in params:
        raise OIDCError(f"{api_url}'s 401 names no resource_metadata (RFC 9728 §5.1)")
    return require_https("the API's resource_metadata", params["resource_metadata"])


def fetch_resource_metadata(
    http: requests.Session, metadata_url: str, api_url: str
) -> ResourceServer:
    """The API's RFC 9728 document; its `resource` must be the address asked for (§3.3)."""
    meta = answer(send(http, "GET", metadata_url), "the API's metadata")
    if meta.get("resource") != api_url:
        raise DiscoveryMismatch(
            f"the metadata at {metadata_url} is for resource {meta.get('resource')!r}, not "
            f"for {api_url!r} (RFC 9728 §3.3): it does not describe this API"
        )
    servers = meta.get("authorization_servers")
    if not isinstance(servers, list) or not servers:
        raise DiscoveryMismatch(f"the metadata at {metadata_url} names no authorization server")
    issuer = require_https("the API's authorization server", servers[0])
    return ResourceServer(api_url, metadata_url, issuer)


def authorization_server_metadata_url(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known prefix goes between the issuer's host and its path."""
    parts = urlsplit(issuer)
    return f"https://{parts.netloc}/.well-known/oauth-authorization-server{parts.path.rstrip('/')}"


def fetch_authorization_server(http: requests.Session, issuer: str) -> AuthorizationServer:
    """The server's RFC 8414 metadata; its `issuer` must be the one the API named (§3.3)."""
    url = authorization_server_metadata_url(require_https("the issuer", issuer))
    meta = answer(send(http, "GET", url), "the authorization server's metadata")
    if meta.get("issuer") != issuer:
        raise DiscoveryMismatch(
            f"the metadata at {url} names issuer {meta.get('issuer')!r}, not {issuer!r} "
            "(RFC 8414 §3.3): it is not the server the API trusts"
        )
    if not meta.get("registration_endpoint"):
        raise OIDCError(
            f"{issuer} offers no dynamic client registration (no registration_endpoint): "
            "ask its operators for a client id and pass --client-id instead of --resource"
        )
    endpoint = require_https("registration_endpoint", meta["registration_endpoint"])
    return AuthorizationServer(issuer, url, endpoint)


def register(
    http: requests.Session, server: AuthorizationServer, rp: RelyingParty
) -> StoredRegistration:
    """RFC 7591 §3.1: register as a public native client; the id and the management token."""
    metadata = {
        "client_name": CLIENT_NAME,
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": list(GRANT_TYPES),
        "response_types": ["code"],
        "redirect_uris": list(dict.fromkeys((rp.redirect_uri, LOOPBACK_REDIRECT_URI))),
        "scope": rp.scope,
    }
    body = answer(
        send(http, "POST", server.registration_endpoint, json=metadata), "the registration endpoint"
    )
    client_id, token = body.get("client_id"), body.get("registration_access_token")
    if not isinstance(client_id, str) or not client_id:
        raise OIDCError("the registration endpoint issued no client_id")
    if not isinstance(token, str) or not token:
        raise OIDCError("the registration endpoint issued no registration_access_token")
    uri = require_https("registration_client_uri", body.get("registration_client_uri"))
    return StoredRegistration(server.issuer, client_id, uri, token)


def read_registration(
    http: requests.Session, registration: StoredRegistration
) -> StoredRegistration | None:
    """RFC 7592 §2.1: read the registration; None once the IdP no longer knows it. The
    answer may carry a new registration access token, which replaces the old one."""
    headers = {"Authorization": f"Bearer {registration.registration_access_token}"}
    try:
        body = answer(
            send(http, "GET", registration.registration_client_uri, headers=headers),
            "the registration",
        )
    except OAuthError:
        return None  # 401 invalid_token: deleted (or purged, unused) at the IdP
    if body.get("client_id") != registration.client_id:
        return None
    token = body.get("registration_access_token")
    if isinstance(token, str) and token:
        return replace(registration, registration_access_token=token)
    return registration


def delete_registration(http: requests.Session, registration: StoredRegistration) -> None:
    """RFC 7592 §2.3: the client deregisters; its grants and tokens go with it."""
    headers = {"Authorization": f"Bearer {registration.registration_access_token}"}
    response = send(http, "DELETE", registration.registration_client_uri, headers=headers)
    if response.status_code != 204:
        raise OIDCError(f"the registration's DELETE answered HTTP {response.status_code}")


@dataclass(frozen=True)
class Discovered:
    """The IdP and client to sign in with, found from the API's address alone."""

    issuer: str
    rp: RelyingParty
    registration: StoredRegistration
    kept: bool  # in the store, to be used again: not deleted on exit


def discover_and_register(
    http: requests.Session,
    api_url: str,
    rp: RelyingParty,
    terminal: Terminal,
    *,
    store: RegistrationStore | None,
    kept_only: bool = False,
) -> Discovered:
    """Each step one line; a failed check or answer stops with ClientAbort. `kept_only`
    (--logout): use the kept registration, never make one."""
    try:
        metadata_url = probe(http, api_url)
        terminal.say(f"API           {api_url} answered 401: its metadata is at {metadata_url}")
        api = fetch_resource_metadata(http, metadata_url, api_url)
        terminal.say(
            f"Resource      {api.resource} (RFC 9728 metadata OK): tokens from "
            f"{api.authorization_server}"
        )
        server = fetch_authorization_server(http, api.authorization_server)
        terminal.say(
            f"Auth server   {server.issuer} (RFC 8414 metadata at {server.metadata_url} OK; "
            f"registration at {server.registration_endpoint})"
        )
        registration, kept = _registration(http, server, rp, terminal, store, kept_only)
    except OIDCError as exc:
        raise ClientAbort(f"Discovery from {api_url} stopped: {exc}") from exc
    rp = replace(rp, client_id=registration.client_id, resource=api.resource)
    return Discovered(server.issuer, rp, registration, kept)


def _registration(
    http: requests.Session,
    server: AuthorizationServer,
    rp: RelyingParty,
    terminal: Terminal,
    store: RegistrationStore | None,
    kept_only: bool = False,
) -> tuple[StoredRegistration, bool]:
    kept = store.load_registration(server.issuer) if store is not None else None
    current = read_registration(http, kept) if kept is not None else None
    if current is not None and store is not None:
        store.save_registration(current)  # its token may be new: the old one is spent
        terminal.say(f"Registered    as client {current.client_id} before (kept in {store.where})")
        return current, True
    if kept is not None and store is not None:
        store.delete_registration(server.issuer)
    if kept_only:
        where = store.where if store is not None else "no store"
        raise ClientAbort(f"No registration at {server.issuer} kept in {where}: nothing to do.")
    if kept is not None:
        terminal.say(f"Registered    client {kept.client_id} is gone at the IdP: registering again")
    registration = register(http, server, rp)
    if store is not None:
        store.save_registration(registration)
    where = f"kept in {store.where}" if store is not None else "deleted again on exit"
    terminal.say(f"Registered    as client {registration.client_id} (RFC 7591; {where})")
    return registration, store is not None


def forget(
    http: requests.Session,
    registration: StoredRegistration,
    terminal: Terminal,
    store: RegistrationStore | None = None,
) -> None:
    """On exit without --remember, or after --logout: deregister, so no unused client is left
    at the IdP (its grants go with it), and drop it from the store."""
    try:
        delete_registration(http, registration)
    except OIDCError as exc:
        terminal.warn(
            f"Could not delete the registration of client {registration.client_id}: {exc}"
        )
        return
    if store is not None:
        store.delete_registration(registration.issuer)
    terminal.say(f"Client {registration.client_id} deregistered at the IdP (RFC 7592).")
