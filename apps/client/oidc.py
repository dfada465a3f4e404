"""OpenID Connect for a public client: discovery, authorization URL, tokens, ID token checks.

Plain values and a `requests.Session` in (the session carries TLS verification), frozen
dataclasses out, one exception family (`OIDCError`). No Django, no settings, no printing.
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import requests

TIMEOUT_SECONDS = 10
DEFAULT_LEEWAY_SECONDS = 60  # clock skew tolerated on exp and iat (OIDC Core §3.1.3.7)
# Public-key signatures only: a public client has no secret, so an HMAC-signed ID token
# (HS256) would be signed with a key anyone can know, and "none" is not signed at all.
DEFAULT_ALGORITHMS = ("RS256", "ES256")
SHA256_ALGORITHMS = {"RS256", "PS256", "ES256"}  # at_hash uses the alg's hash (§3.1.3.8)
# The JWK a signature of each alg needs: its kty, and for EC its curve (RFC 7518 §3.3, §3.4).
# A key of another type is never tried, whatever its kid: no key confusion across algs.
KEY_TYPES = {"RS256": ("RSA", None), "ES256": ("EC", "P-256")}

# RFC 6749 Appendix A.11: a code is one or more VSCHAR. Reasonable codes are far shorter
# than this, and have no spaces; anything else pasted is treated as a mistake.
_CODE_PATTERN = re.compile(r"[\x21-\x7e]{1,512}")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


# --- errors


class OIDCError(Exception):
    """Anything that should stop the client with a readable message."""


class TransientError(OIDCError):
    """The IdP could not be reached or failed on its side (connection, timeout, 5xx, 429).

    Worth retrying after a pause; nothing was wrong with the request itself.
    """


class OAuthError(OIDCError):
    """An OAuth 2.0 error response (RFC 6749 §4.1.2.1, §5.2): `error` plus its description."""

    def __init__(self, error: str, description: str | None = None, *, source: str) -> None:
        self.error = printable(error, limit=80)
        self.description = printable(description, limit=300) if description else None
        self.source = source
        detail = f": {self.description}" if self.description else ""
        super().__init__(f"{source} answered {self.error}{detail}")


class UnreadablePaste(OIDCError):
    """Pasted text that is no authorization response at all (empty, garbage): ask again."""


class ResponseMismatch(OIDCError):
    """A well-formed authorization response that does not answer this request (state, iss)."""


class InvalidGrant(OAuthError):
    """The code or refresh token is expired, used, revoked or not ours: sign in again."""


class IDTokenError(OIDCError):
    """An ID token failed one of the checks of OIDC Core §3.1.3.7; `check` names which."""

    def __init__(self, check: str, detail: str) -> None:
        self.check = check
        super().__init__(f"ID token rejected, {check} check failed: {detail}")


class UnknownKeyError(IDTokenError):
    """The token names a key (kid) the JWKS does not hold."""


def printable(text: str, *, limit: int = 200) -> str:
    """`text` with control characters replaced and length capped: safe to show in a terminal."""
    cleaned = _PRINTABLE.sub("?", str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def short(secret: str | None, length: int = 6) -> str:
    """A short prefix of a code, enough to match it with the receiver page, too little to use."""
    return f"{secret[:length]}…" if secret else "(none)"


def fingerprint(token: str | None) -> str:
    """A token's SHA-256 tag: tells two tokens apart even when they share a prefix (a refresh
    token family's id, say), and reveals none of the token."""
    if not token:
        return "(none)"
    return "#" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:8]


# --- values that travel together


@dataclass(frozen=True)
class Provider:
    """The endpoints of an IdP, from its discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    revocation_endpoint: str | None = None
    # RFC 9207 §3: when true, every authorization response must carry `iss`.
    authorization_response_iss_parameter_supported: bool = False


@dataclass(frozen=True)
class RelyingParty:
    """This client's registration at the IdP."""

    client_id: str
    redirect_uri: str
    scope: str = "openid profile email offline_access"


@dataclass(frozen=True)
class AuthorizationRequest:
    """What one sign-in attempt needs to remember: the URL and the values that bind it."""

    url: str
    state: str
    nonce: str
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class PastedResponse:
    """An authorization code, and which of its companions could be checked."""

    code: str = field(repr=False)
    state_checked: bool
    iss_checked: bool


@dataclass(frozen=True)
class Tokens:
    """A token response. `expires_at` is seconds since the epoch, from the `now` passed in."""

    access_token: str = field(repr=False)
    expires_at: float | None
    refresh_token: str | None = field(repr=False, default=None)
    id_token: str | None = field(repr=False, default=None)
    scope: str | None = None


@dataclass(frozen=True)
class VerifiedToken:
    """A JWT whose signature checked out; its claims are not checked yet."""

    claims: dict[str, Any]
    alg: str
    kid: str | None


# --- the one HTTP helper


def _reason(exc: requests.RequestException) -> str:
    """The useful part of urllib3's long messages: 'Connection refused', 'certificate ...'."""
    text = str(exc)
    for pattern in (r"(certificate verify failed[^'\")]*)", r"\[Errno -?\d+\] ([^'\")]+)"):
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip()
    return type(exc).__name__


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _send(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Every request of this module: one timeout, no redirects, errors as OIDCError."""
    try:
        return http.request(method, url, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs)
    except requests.exceptions.SSLError as exc:
        raise OIDCError(
            f"TLS verification of {_origin(url)} failed ({_reason(exc)}): "
            "is the CA file the one that signed its certificate?"
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise TransientError(f"{url} did not answer within {TIMEOUT_SECONDS} s") from exc
    except requests.exceptions.ConnectionError as exc:
        raise TransientError(f"cannot connect to {_origin(url)}: {_reason(exc)}") from exc
    except requests.exceptions.RequestException as exc:
        raise OIDCError(f"request to {url} failed: {_reason(exc)}") from exc
    except OSError as exc:  # requests raises it for an unreadable CA bundle
        raise OIDCError(f"request to {url} failed: {exc}") from exc


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:  # requests' JSONDecodeError, also for an empty body
        kind = response.headers.get("Content-Type", "no content type")
        raise OIDCError(f"{response.url} did not answer JSON ({kind})") from exc


def _bearer_error(header: str) -> tuple[str, str | None] | None:
    """`error` and `error_description` of a WWW-Authenticate: Bearer header (RFC 6750 §3)."""
    params = dict(re.findall(r'(\w+)="([^"]*)"', header))
    return (params["error"], params.get("error_description")) if "error" in params else None


def _answer(response: requests.Response, source: str, *, empty_ok: bool = False) -> dict:
    """The JSON object of a successful answer; OAuth errors, 5xx and junk as OIDCError."""
    status = response.status_code
    if status >= 500 or status == 429:
        raise TransientError(f"{source} answered HTTP {status}")
    if 300 <= status < 400:
        raise OIDCError(f"{source} redirected to {response.headers.get('Location')!r}")
    if not response.ok:
        error = _bearer_error(response.headers.get("WWW-Authenticate", ""))
        if error is None:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                error = (body["error"], body.get("error_description"))
        if error is None:
            raise OIDCError(f"{source} answered HTTP {status}")
        kind = InvalidGrant if error[0] == "invalid_grant" else OAuthError
        description = error[1] if isinstance(error[1], str) else None
        raise kind(error[0], description, source=source)
    if empty_ok and not response.content.strip():
        return {}
    body = _body(response)
    if not isinstance(body, dict):
        raise OIDCError(f"{source} answered JSON that is not an object")
    return body


# --- discovery and the authorization request


def _require_https(name: str, url: Any) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme != "https":
        raise OIDCError(f"discovery's {name} is not an https URL: {url!r}")
    return url


def discover(http: requests.Session, issuer: str) -> Provider:
    """Fetch the discovery document; its `issuer` must equal ours exactly (Discovery §4.3)."""
    _require_https("issuer", issuer)
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"  # Discovery §4.1
    meta = _answer(_send(http, "GET", url), "discovery")
    if meta.get("issuer") != issuer:
        raise OIDCError(f"discovery names issuer {meta.get('issuer')!r}, expected {issuer!r}")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        if name not in meta:
            raise OIDCError(f"discovery document lacks {name}")
        endpoints[name] = _require_https(name, meta[name])
    revocation = meta.get("revocation_endpoint")
    return Provider(
        issuer=issuer,
        revocation_endpoint=_require_https("revocation_endpoint", revocation)
        if revocation
        else None,
        authorization_response_iss_parameter_supported=meta.get(
            "authorization_response_iss_parameter_supported"
        )
        is True,
        **endpoints,
    )


def authorization_url(
    provider: Provider, rp: RelyingParty, *, code_challenge: str, state: str, nonce: str
) -> str:
    """The seed's URL (client_id ... code_challenge_method=S256), plus state and nonce."""
    query = urlencode(
        {
            "client_id": rp.client_id,
            "response_type": "code",
            "scope": rp.scope,
            "redirect_uri": rp.redirect_uri,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "state": state,
            "nonce": nonce,
        }
    )
    # RFC 6749 §3.1: a query the endpoint already has must be kept.
    joiner = "&" if urlsplit(provider.authorization_endpoint).query else "?"
    return f"{provider.authorization_endpoint}{joiner}{query}"


def start_authorization(
    provider: Provider, rp: RelyingParty, *, code_verifier: str, code_challenge: str
) -> AuthorizationRequest:
    """A fresh `state` (CSRF, RFC 6749 §10.12) and `nonce` (replay, OIDC Core §3.1.2.1)."""
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    url = authorization_url(provider, rp, code_challenge=code_challenge, state=state, nonce=nonce)
    return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=code_verifier)


def _looks_like_response(text: str) -> bool:
    return "://" in text or text.startswith("?") or bool(re.search(r"(^|[?&])(code|error)=", text))


def parse_pasted_response(
    text: str, *, state: str, issuer: str, iss_required: bool = False
) -> PastedResponse:
    """The authorization code from what a person pasted: a bare code or the receiver's URL.

    From a URL (or its query string) it checks `state`, and `iss` when present or when
    the IdP promised it (RFC 9207 §2.4), and turns an `error` into OAuthError. A bare code
    carries neither, so nothing can be checked: pasting the whole URL is the safer habit.
    Raises UnreadablePaste for text that is no response (ask again), ResponseMismatch for
    one that answers another request; messages are fit for the person who pasted.
    """
    text = text.strip()
    if not text:
        raise UnreadablePaste(
            "nothing was pasted: paste the code the receiver page shows, or its URL"
        )
    if not _looks_like_response(text):
        if not _CODE_PATTERN.fullmatch(text):
            raise UnreadablePaste(
                "that is neither an authorization code nor the receiver page's URL "
                "(a code has no spaces; a URL starts with https://)"
            )
        return PastedResponse(code=text, state_checked=False, iss_checked=False)
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    params = parse_qs(query, keep_blank_values=True)
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:  # RFC 6749 §3.1: parameters must not be included more than once
        raise UnreadablePaste(
            f"the URL repeats {', '.join(repeated)}: paste the receiver's URL as is"
        )
    values = {name: found[0] for name, found in params.items()}
    if "code" not in values and "error" not in values:
        raise UnreadablePaste(
            "that URL carries neither a code nor an error: paste the address of the "
            "receiver page you reach after signing in and allowing access"
        )
    iss_checked = "iss" in values or iss_required
    if iss_checked:
        if values.get("iss") != issuer:
            raise ResponseMismatch(
                f"the response comes from issuer {printable(values.get('iss', '(none)'))!r}, "
                f"not {issuer!r} (RFC 9207): it is not the answer to this sign-in"
            )
    if "state" in values and values["state"] != state:
        raise ResponseMismatch(
            "state mismatch: that response belongs to a different sign-in attempt "
            "(an old tab, or someone else's link). Open the URL printed above and try again."
        )
    if "error" in values:
        raise OAuthError(
            values["error"], values.get("error_description"), source="the authorization server"
        )
    if "state" not in values:
        raise ResponseMismatch(
            "the URL has a code but no state: it is not the answer to this sign-in"
        )
    code = values["code"]
    if not _CODE_PATTERN.fullmatch(code):
        raise UnreadablePaste("the code in that URL is empty or malformed")
    return PastedResponse(code=code, state_checked=True, iss_checked=iss_checked)


# --- the token endpoint, userinfo, revocation


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
    source = "the token endpoint"
    tokens = _tokens(
        _answer(_send(http, "POST", provider.token_endpoint, data=form), source),
        now=now,
        source=source,
    )
    if tokens.id_token is None:  # OIDC Core §3.1.3.3: required for an openid request
        raise OIDCError(f"{source} issued no ID token (is 'openid' in the scope?)")
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
    source = "the token endpoint"
    tokens = _tokens(
        _answer(_send(http, "POST", provider.token_endpoint, data=form), source),
        now=now,
        source=source,
    )
    if tokens.refresh_token is None:
        return Tokens(
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            refresh_token=refresh_token,
            id_token=tokens.id_token,
            scope=tokens.scope,
        )
    return tokens


def fetch_userinfo(
    http: requests.Session, provider: Provider, *, access_token: str, sub: str
) -> dict[str, Any]:
    """UserInfo claims; `sub` must equal the ID token's, or none may be used (§5.3.2)."""
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    claims = _answer(_send(http, "GET", provider.userinfo_endpoint, headers=headers), "userinfo")
    if claims.get("sub") != sub:
        raise OIDCError(
            f"userinfo is about sub {printable(str(claims.get('sub')))!r}, but the ID token "
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
    _answer(
        _send(http, "POST", provider.revocation_endpoint, data=form),
        "the revocation endpoint",
        empty_ok=True,  # RFC 7009 §2.2: the body of a 200 is ignored, usually empty
    )


# --- the ID token: signature (the only code touching keys), then claims (pure)


def fetch_jwks(http: requests.Session, provider: Provider) -> dict[str, Any]:
    jwks = _answer(_send(http, "GET", provider.jwks_uri), "the JWKS endpoint")
    if not isinstance(jwks.get("keys"), list):
        raise OIDCError("the JWKS has no list of keys")
    return jwks


def _fits(key: dict[str, Any], alg: str) -> bool:
    """Whether a JWK can check an `alg` signature: its kty (and crv), and its alg if it says."""
    kty, crv = KEY_TYPES.get(alg, (None, None))
    return (
        kty is not None
        and key.get("kty") == kty
        and (crv is None or key.get("crv") == crv)
        and key.get("alg", alg) == alg
    )


def _pick_key(jwks: dict[str, Any], *, kid: str | None, alg: str) -> dict[str, Any]:
    named = [
        key
        for key in jwks.get("keys", [])
        if isinstance(key, dict)
        and key.get("use", "sig") == "sig"
        and (kid is None or key.get("kid") == kid)
    ]
    candidates = [key for key in named if _fits(key, alg)]
    if kid is None and len(candidates) > 1:
        raise IDTokenError("kid", "the token names no key and the JWKS holds several")
    if not candidates and kid is not None and named:
        kind = " ".join(str(named[0][name]) for name in ("kty", "crv", "alg") if name in named[0])
        raise IDTokenError(
            "alg",
            f"the token says {alg}, but its key {printable(kid)!r} is not for {alg} "
            f"({printable(kind or 'no kty')})",
        )
    if not candidates:
        raise UnknownKeyError("kid", f"no {alg} signing key with kid {kid!r} in the JWKS")
    return candidates[0]


def verify_signature(
    token: str, jwks: dict[str, Any], *, algorithms: Sequence[str] = DEFAULT_ALGORITHMS
) -> VerifiedToken:
    """Check a JWS against a JWKS with PyJWT; claims are returned unchecked.

    Only `algorithms` are accepted: "none" and HS256 are refused by default.
    Raises UnknownKeyError when the kid is not in `jwks` (the caller may re-fetch once).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise IDTokenError("signature", f"not a signed JWT ({exc})") from exc
    alg = header.get("alg")
    if alg not in algorithms:
        if alg == "HS256":
            raise IDTokenError(
                "alg",
                "the ID token is signed with HS256, an HMAC keyed with the client secret; a "
                "public client has none, so anyone could have forged this token. Refusing it: "
                "set the client's JWT algorithm to RS256 or ES256 at the IdP",
            )
        if str(alg).lower() == "none":
            raise IDTokenError("alg", "the ID token is not signed (alg none)")
        raise IDTokenError("alg", f"signed with {printable(str(alg))}, expected {algorithms}")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise IDTokenError("kid", "the token's kid is not a string")
    key = _pick_key(jwks, kid=kid, alg=alg)
    try:
        public_key = jwt.PyJWK(key, algorithm=alg).key
        claims = jwt.decode(
            token,
            key=public_key,
            algorithms=[alg],
            # Signature only: the claims get check_id_token_claims, which names each check.
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": [],
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise IDTokenError("signature", f"does not verify with key {kid!r}") from exc
    except jwt.PyJWKError as exc:
        raise IDTokenError("signature", f"unusable key {kid!r} in the JWKS ({exc})") from exc
    except jwt.InvalidTokenError as exc:
        raise IDTokenError("signature", f"malformed token ({exc})") from exc
    return VerifiedToken(claims=claims, alg=alg, kid=kid)


class SigningKeys:
    """The IdP's JWKS, fetched on first use and once more when a token names an unknown kid."""

    def __init__(self, http: requests.Session, provider: Provider) -> None:
        self._http = http
        self._provider = provider
        self._jwks: dict[str, Any] | None = None
        self.fetches = 0

    def _fetch(self) -> dict[str, Any]:
        self.fetches += 1
        self._jwks = fetch_jwks(self._http, self._provider)
        return self._jwks

    def verify(
        self, token: str, *, algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    ) -> VerifiedToken:
        fresh = self._jwks is None
        jwks = self._fetch() if fresh else self._jwks
        try:
            return verify_signature(token, jwks, algorithms=algorithms)
        except UnknownKeyError:
            if fresh:
                raise
            # Keys rotate: one fresh look at the JWKS, never a loop (OIDC Core §10.1.1).
            return verify_signature(token, self._fetch(), algorithms=algorithms)


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IDTokenError(name, f"{name} is missing or not a number")
    return value


def check_id_token_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: float = DEFAULT_LEEWAY_SECONDS,
    nonce_required: bool = True,
    sub: str | None = None,
) -> None:
    """OIDC Core §3.1.3.7 steps 2-5 and 9-11 on already signature-checked claims.

    `now` is seconds since the epoch; `nonce` is the one the authorization request sent.
    For an ID token from a refresh (§12.2) pass `nonce_required=False` (a nonce may be
    absent, but if present must match) and the first ID token's `sub`, which must not
    change. Raises IDTokenError naming the check that failed.
    """
    if claims.get("iss") != issuer:
        raise IDTokenError("iss", f"issuer {claims.get('iss')!r} is not {issuer!r}")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IDTokenError("sub", "sub is missing")
    if sub is not None and claims["sub"] != sub:
        raise IDTokenError("sub", f"sub {claims['sub']!r} differs from the first ID token's")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise IDTokenError("aud", f"audience {audience!r} does not include {client_id!r}")
    if len(audiences) > 1:
        others = sorted(str(value) for value in audiences if value != client_id)
        raise IDTokenError("aud", f"also meant for {others}, which this client does not trust")
    if "azp" in claims and claims["azp"] != client_id:
        raise IDTokenError("azp", f"authorized party {claims['azp']!r} is not {client_id!r}")
    if now >= _number(claims, "exp") + leeway:
        raise IDTokenError("exp", f"expired {int(now - claims['exp'])} s ago")
    if _number(claims, "iat") > now + leeway:
        raise IDTokenError("iat", f"issued {int(claims['iat'] - now)} s in the future")
    if nonce_required or "nonce" in claims:
        if claims.get("nonce") != nonce:
            raise IDTokenError("nonce", "nonce does not match the one this client sent")


def check_at_hash(claims: dict[str, Any], *, access_token: str, alg: str) -> None:
    """OIDC Core §3.1.3.8: when the ID token has at_hash, it must match the access token."""
    if "at_hash" not in claims:
        return
    if alg not in SHA256_ALGORITHMS:
        raise IDTokenError("at_hash", f"cannot check at_hash for {alg}")
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
    if claims["at_hash"] != expected:
        raise IDTokenError("at_hash", "at_hash does not match the access token")
