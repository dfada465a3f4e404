"""Which redirect URIs (and post-logout redirect URIs) a client may register.

A pure rule, called from the admin form and from apps.idp.services. RFC 6749 §3.1.2 asks for
absolute URIs without a fragment; RFC 9700 §4.1.3 asks for exact matching, so a wildcard
would never match anyway and only hides a mistake. RFC 8252 §7.3 lets a native app use
`http://` to a loopback IP literal, and §8.3 advises against the name `localhost` (it may
resolve elsewhere). Anything else over `http://` sends the code in the clear; `javascript:`,
`data:` and other schemes would run or carry it where no RP is listening.
"""

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_LITERALS = ("127.0.0.1", "::1")


class RedirectURIError(ValueError):
    """A redirect URI this IdP refuses to register; the message says why."""


def check_redirect_uri(uri: str) -> None:
    """Raise RedirectURIError unless `uri` is https://, or http:// to a loopback IP literal."""
    if not uri or uri != uri.strip() or any(ch.isspace() for ch in uri):
        raise RedirectURIError(f"{uri!r}: a redirect URI has no spaces and is not empty")
    if "*" in uri:
        raise RedirectURIError(f"{uri!r}: no wildcards, redirect URIs are compared exactly")
    try:
        parts = urlsplit(uri)
        port = parts.port  # raises for a port that is not a number
    except ValueError as exc:
        raise RedirectURIError(f"{uri!r}: not a URI ({exc})") from None
    del port
    if "#" in uri:
        raise RedirectURIError(f"{uri!r}: a redirect URI has no fragment (RFC 6749 §3.1.2)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise RedirectURIError(f"{uri!r}: no user name or password in a redirect URI")
    if not parts.hostname:
        raise RedirectURIError(f"{uri!r}: an absolute URI with a host is needed")
    if parts.scheme == "https":
        return
    if parts.scheme == "http":
        if _is_loopback_literal(parts.hostname):
            return
        raise RedirectURIError(
            f"{uri!r}: http:// only to 127.0.0.1 or [::1] (RFC 8252 §7.3; not the name "
            "localhost, §8.3); use https:// elsewhere"
        )
    raise RedirectURIError(f"{uri!r}: only https:// (or http:// to a loopback address)")


def check_redirect_uris(uris: list[str]) -> None:
    """check_redirect_uri for each of `uris`."""
    for uri in uris:
        check_redirect_uri(uri)


def _is_loopback_literal(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name, `localhost` included
    return str(address) in LOOPBACK_LITERALS
