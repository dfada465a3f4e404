"""The IdP's protocol rules for public clients (RFC 9700, 7636, 9207). No Django, no I/O.

The endpoints (`apps/idp/endpoints/`) and grants (`apps/idp/grants/`) call these with
plain values; tests feed them directly.
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# What this IdP releases: `openid`, the scopes `apps.idp.claims` fills in, and
# `offline_access`, which asks for a refresh token (OIDC Core §11).
SUPPORTED_SCOPES = ("openid", "profile", "email", "offline_access")
OFFLINE_ACCESS = "offline_access"
CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
)

_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # BASE64URL(SHA-256), no padding: RFC 7636 §4.2
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
# Codes, tokens and client ids are VCHAR strings (RFC 6749 Appendix A); anything else (NUL
# included, which PostgreSQL refuses in text) cannot be one of ours and is never queried.
_OPAQUE = re.compile(r"[\x21-\x7e]{1,255}")
_PRINTABLE = re.compile(r"[\x20-\x7e]{0,255}")


def allowed_scopes(client_scopes: Iterable[str]) -> set[str]:
    """The scopes a client may get: those set in the admin, or every supported one if none are.

    `openid` is always allowed: every client of this IdP is an OpenID Connect client.
    Scopes set in the admin that the IdP does not support are never granted.
    """
    configured = set(client_scopes)
    allowed = configured & set(SUPPORTED_SCOPES) if configured else set(SUPPORTED_SCOPES)
    return allowed | {"openid"}


def grantable_scopes(requested: Iterable[str], client_scopes: Iterable[str]) -> list[str]:
    """The requested scopes the client may get, in request order, without repeats.

    Others are dropped, as RFC 6749 §3.3 lets the server issue a narrower scope than asked
    for (and OIDC Core §3.1.2.1 says unknown scopes are ignored); the token response then
    names the scope granted.
    """
    allowed = allowed_scopes(client_scopes)
    granted: list[str] = []
    for scope in requested:
        if scope in allowed and scope not in granted:
            granted.append(scope)
    return granted


def is_s256_challenge(challenge: str) -> bool:
    return bool(_S256_CHALLENGE.fullmatch(challenge))


def is_verifier(verifier: str) -> bool:
    return bool(_VERIFIER.fullmatch(verifier))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6 for S256, compared in constant time."""
    return is_verifier(verifier) and secrets.compare_digest(s256(verifier), challenge)


def is_opaque_value(value: str) -> bool:
    """Could this be a code, token or client id we issued? (Checked before any query.)"""
    return bool(_OPAQUE.fullmatch(value))


def is_printable(value: str) -> bool:
    """Printable ASCII, short enough for the library's 255-character columns."""
    return bool(_PRINTABLE.fullmatch(value))


def has_control_characters(value: str) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)


_REFRESH_TOKEN = re.compile(r"([0-9a-f]{32})\.[0-9a-f]{32}")


def new_family() -> str:
    return secrets.token_hex(16)


def new_refresh_token(family: str) -> str:
    """`<family>.<secret>`: 128 random bits each; the family names the grant."""
    return f"{family}.{secrets.token_hex(16)}"


def refresh_token_family(value: str) -> str | None:
    match = _REFRESH_TOKEN.fullmatch(value)
    return match.group(1) if match else None


def token_hash(secret: str) -> str:
    """SHA-256 hex of a code or token: all the database keeps of it, written and looked up by.

    Unkeyed: every value hashed is 128 or more random bits (a uuid4 or `new_refresh_token`),
    which no dictionary covers, and a hash without a key survives a SECRET_KEY rotation.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# What `token_hash` stores. No value this IdP or the library issues looks like one: codes and
# access tokens are 32 hex digits, refresh tokens 65 characters with a dot (or the library's
# 32 hex digits), so a 64-hex-digit column value is a hash already.
_TOKEN_HASH = re.compile(r"[0-9a-f]{64}")


def is_token_hash(stored: str) -> bool:
    return bool(_TOKEN_HASH.fullmatch(stored))


def hashed_once(stored: str) -> str:
    """A code or token column's value as hashed storage keeps it: hashed unless it is already."""
    return stored if is_token_hash(stored) else token_hash(stored)


def same_endpoint(url: str, redirect_uri: str) -> bool:
    """Does `url` go to `redirect_uri` (same scheme, host, port and path)?"""
    target, registered = urlsplit(url), urlsplit(redirect_uri)
    return (target.scheme, target.netloc, target.path) == (
        registered.scheme,
        registered.netloc,
        registered.path,
    )


def audiences(claims: dict) -> list[str]:
    """An ID token's `aud` as a list: a string or a list of strings (OIDC Core §2)."""
    audience = claims.get("aud")
    return [audience] if isinstance(audience, str) else list(audience or [])


# The longest value each authorization parameter may have, in characters; anything longer is
# `invalid_request`. They keep every redirect we build (redirect_uri + code + state + iss) well
# under the 8 KB many servers and proxies accept, and fit the library's 255-character columns.
AUTHORIZATION_PARAM_MAX_LENGTHS: dict[str, int] = {
    "client_id": 255,
    "redirect_uri": 255,
    "response_type": 64,
    "response_mode": 32,
    "scope": 255,
    "state": 512,
    "nonce": 255,
    "code_challenge": 128,  # RFC 7636 §4.2 allows at most 128
    "code_challenge_method": 16,
    "prompt": 64,
    "max_age": 10,
    "display": 16,
    "ui_locales": 255,
    "claims_locales": 255,
    "login_hint": 255,
    "acr_values": 255,
    "id_token_hint": 4096,
    "request": 4096,
    "request_uri": 512,
    "registration": 4096,
}
OTHER_PARAM_MAX_LENGTH = 1024  # any parameter not listed above (ignored, but still bounded)
# prompt values that ask for a new sign-in before anything is released (OIDC Core §3.1.2.1)
REAUTHENTICATING_PROMPTS = frozenset({"login", "select_account"})
_MAX_AGE = re.compile(r"[0-9]{1,10}")


def max_length_of(name: str) -> int:
    return AUTHORIZATION_PARAM_MAX_LENGTHS.get(name, OTHER_PARAM_MAX_LENGTH)


def too_long_param(params: Iterable[tuple[str, str]]) -> str | None:
    """The name of the first parameter longer than its maximum, if any."""
    return next((name for name, value in params if len(value) > max_length_of(name)), None)


def parse_max_age(value: str) -> int | None:
    """`max_age` in seconds, None when absent; ValueError unless a non-negative integer."""
    if value == "":
        return None
    if not _MAX_AGE.fullmatch(value):
        raise ValueError("max_age is not a non-negative integer")
    return int(value)


def must_reauthenticate(
    prompt: Iterable[str], max_age: int | None, auth_time: float | None, now: float
) -> bool:
    """OIDC Core §3.1.2.1: prompt=login or select_account, or a sign-in older than max_age."""
    if REAUTHENTICATING_PROMPTS & set(prompt):
        return True
    return max_age is not None and (auth_time is None or now - auth_time > max_age)


def _with_query(url: str, params: list[tuple[str, str]]) -> str:
    # Percent-encoding throughout (%20, not +): read the same by form and RFC 3986 decoders.
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode(params, quote_via=quote), fragment=""))


def authorization_error_redirect(
    redirect_uri: str, issuer: str, error: str, description: str | None, state: str
) -> str:
    """An error response to the client, built from plain values only (RFC 6749 §4.1.2.1).

    Always in the query: only the code flow is served. `state` is the request's, byte for
    byte, percent-encoded: nothing in it can add, replace or move parameters.
    """
    params = parse_qsl(urlsplit(redirect_uri).query, keep_blank_values=True)
    params.append(("error", error))
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    params.append(("iss", issuer))
    return _with_query(redirect_uri, params)


def authorization_success_redirect(location: str, issuer: str) -> str:
    """The library's success redirect (its query is urlencoded), re-encoded with `iss`."""
    params = parse_qsl(urlsplit(location).query, keep_blank_values=True)
    return _with_query(location, [(k, v) for k, v in params if k != "iss"] + [("iss", issuer)])


# --- loopback redirect URIs of native apps (RFC 8252 §7.3, RFC 9700 §2.1)

# A registered `http://127.0.0.1/...` or `http://[::1]/...` (IP literals only: `localhost` may
# resolve elsewhere, RFC 8252 §8.3) matches a request on any port, the rest compared exactly.
_LOOPBACK_REGISTERED = re.compile(r"(http://(?:127\.0\.0\.1|\[::1\]))(/[^#]*)?")
_PORT = re.compile(r"[1-9][0-9]{0,4}")


def redirect_uri_matches(requested: str, registered: str, *, loopback_any_port: bool) -> bool:
    """Is `requested` the registered redirect URI? Exact, case-sensitive string comparison,
    except that with `loopback_any_port` (a public client) a registered loopback IP literal
    without a port matches the same URI with any port: the app picks it when it starts."""
    if requested == registered:
        return True
    loopback = _LOOPBACK_REGISTERED.fullmatch(registered) if loopback_any_port else None
    if loopback is None:
        return False
    origin, path = loopback.group(1), loopback.group(2) or ""
    if not requested.startswith(origin + ":") or not requested.endswith(path):
        return False
    port = requested[len(origin) + 1 : len(requested) - len(path)]
    return bool(_PORT.fullmatch(port)) and int(port) <= 65535


# --- the device authorization grant (RFC 8628)
