"""The one way the protocol modules talk HTTP: one timeout, no redirects, errors as OIDCError."""

import re
import ssl
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.client.dpop import NONCE_HEADER, DPoPKey
from apps.client.errors import InvalidGrant, OAuthError, OIDCError, TLSFailure, TransientError

TIMEOUT_SECONDS = 10


def _reason(exc: requests.RequestException) -> str:
    """The useful part of urllib3's long messages: 'Connection refused', 'Name or service ...'."""
    text = str(exc)
    patterns = (
        r"\[Errno -?\d+\] ([^'\")]+)",  # a socket error: 'Connection refused'
        r"Error\(-?\d+, '([^']+)'\)",  # one as urllib3 wraps it: 'Connection reset by peer'
        r"RemoteDisconnected\('([^']+)'\)",  # 'Remote end closed connection without response'
    )
    for pattern in patterns:
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip()
    return type(exc).__name__


# OpenSSL's X509_V_ERR_* codes worth their own advice (x509_vfy.h).
_CERT_EXPIRED = 10
_HOSTNAME_MISMATCH = 62


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ssl module's error under requests' and urllib3's wrappers (args, causes, reason)."""
    seen: list[BaseException] = []
    current: object = exc
    while isinstance(current, BaseException) and not any(current is s for s in seen):
        if isinstance(current, ssl.SSLError):
            return current
        seen.append(current)
        inner = next((arg for arg in current.args if isinstance(arg, BaseException)), None)
        current = inner or getattr(current, "reason", None) or current.__cause__
    return None


def _openssl_words(error: ssl.SSLError) -> str:
    """OpenSSL's words alone: '[SSL: X] wrong version number (_ssl.c:1006)' -> 'wrong ...'."""
    text = getattr(error, "verify_message", None)
    text = text or (error.strerror if isinstance(error.strerror, str) else "") or str(error)
    text = re.sub(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*", "", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)
    return text.strip().rstrip(".") or type(error).__name__


def tls_failure_message(exc: BaseException, origin: str, ca_file: object) -> str:
    """One sentence for a failed TLS handshake: what failed, in OpenSSL's words, and what to do."""
    error = _ssl_error(exc)
    if error is None:
        return (
            f"The TLS handshake with {origin} failed: is it an HTTPS server, and --ca-file its CA?"
        )
    words = _openssl_words(error)
    ca = f"the CA file {ca_file}" if isinstance(ca_file, str) else "the system's CAs"
    library, verify_code = getattr(error, "library", None), getattr(error, "verify_code", None)
    if library in ("X509", "PEM"):  # the CA file itself: not a certificate
        return f"Cannot use {ca} ({words}): pass --ca-file with the PEM certificate of a CA."
    if isinstance(error, ssl.SSLCertVerificationError):
        if verify_code == _HOSTNAME_MISMATCH:
            advice = "pass --issuer with a name the certificate was made for."
        elif verify_code == _CERT_EXPIRED:
            advice = "the IdP's certificate must be renewed (or this machine's clock is off)."
        else:
            advice = (
                "pass --ca-file (or set OIDC_CA_BUNDLE) with the CA that signed the IdP's "
                "certificate (the demo's: certs/ca.pem)."
            )
        return f"The IdP's certificate at {origin} is not trusted with {ca} ({words}): {advice}"
    return f"TLS handshake with {origin} failed ({words}): is it an HTTPS server, on that port?"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def send(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    """Every request of the protocol modules: one timeout, no redirects, errors as OIDCError."""
    try:
        return http.request(method, url, timeout=TIMEOUT_SECONDS, allow_redirects=False, **kwargs)
    except requests.exceptions.SSLError as exc:
        if isinstance(_ssl_error(exc), ssl.SSLEOFError | ssl.SSLZeroReturnError):
            # Closed mid-handshake: a server going down, or a proxy with nothing behind it.
            raise TransientError(
                f"cannot connect to {_origin(url)}: the connection closed during the TLS handshake"
            ) from exc
        ca_file = getattr(http, "verify", None)
        raise TLSFailure(tls_failure_message(exc, _origin(url), ca_file)) from exc
    except requests.exceptions.Timeout as exc:
        raise TransientError(f"{url} did not answer within {TIMEOUT_SECONDS} s") from exc
    except requests.exceptions.ConnectionError as exc:
        raise TransientError(f"cannot connect to {_origin(url)}: {_reason(exc)}") from exc
    except requests.exceptions.RequestException as exc:
        raise OIDCError(f"request to {url} failed: {_reason(exc)}") from exc
    except OSError as exc:  # requests raises it for an unreadable CA bundle
        raise OIDCError(f"request to {url} failed: {exc}") from exc


def _asks_for_nonce(response: requests.Response) -> bool:
    """RFC 9449 §8: 400 use_dpop_nonce from a token endpoint, or a 401 challenge saying so."""
    if response.status_code not in (400, 401) or NONCE_HEADER not in response.headers:
        return False
    error = _error_of(response)
    return error is not None and error[0] == "use_dpop_nonce"


def send_with_proof(
    http: requests.Session,
    method: str,
    url: str,
    *,
    dpop: DPoPKey | None,
    access_token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """`send`, with a DPoP proof when `dpop` is given (for `access_token` when it carries one),
    and once more with the server's nonce if it asks for one (RFC 9449 §8)."""
    headers = dict(headers or {})
    if access_token is not None:
        scheme = "DPoP" if dpop is not None else "Bearer"  # RFC 9449 §7.1, RFC 6750 §2.1
        headers["Authorization"] = f"{scheme} {access_token}"
    if dpop is None:
        return send(http, method, url, headers=headers, **kwargs)

    def with_fresh_proof() -> requests.Response:
        proof = dpop.proof(method, url, access_token=access_token)
        response = send(http, method, url, headers={**headers, "DPoP": proof}, **kwargs)
        nonce = response.headers.get(NONCE_HEADER)
        if nonce:  # §8.2: a server may hand a fresh nonce with any answer
            dpop.remember_nonce(url, nonce)
        return response

    response = with_fresh_proof()
    return with_fresh_proof() if _asks_for_nonce(response) else response


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


def _error_of(response: requests.Response) -> tuple[str, Any] | None:
    """The OAuth error of a 4xx: from WWW-Authenticate, else from a JSON body."""
    error = _bearer_error(response.headers.get("WWW-Authenticate", ""))
    if error is not None:
        return error
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], body.get("error_description")
    return None


def answer(response: requests.Response, source: str, *, empty_ok: bool = False) -> dict:
    """The JSON object of a successful answer; OAuth errors, 5xx and junk as OIDCError."""
    status = response.status_code
    if status >= 500 or status == 429:
        raise TransientError(f"{source} answered HTTP {status}")
    if 300 <= status < 400:
        raise OIDCError(f"{source} redirected to {response.headers.get('Location')!r}")
    if not response.ok:
        error = _error_of(response)
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
