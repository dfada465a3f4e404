"""The authorization request (its URL, state and nonce) and the response pasted back."""

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from apps.client.discovery import Provider
from apps.client.errors import OAuthError, ResponseMismatch, UnreadablePaste
from apps.client.text import to_printable

# RFC 6749 Appendix A.11: a code is one or more VSCHAR. Reasonable codes are far shorter
# than this, and have no spaces; anything else pasted is treated as a mistake.
_CODE_PATTERN = re.compile(r"[\x21-\x7e]{1,512}")


@dataclass(frozen=True)
class RelyingParty:
    """This client's registration at the IdP."""

    client_id: str
    redirect_uri: str
    scope: str = "openid profile email offline_access"
    resource: str | None = None  # RFC 8707: the API the tokens are for (--resource)


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
            **({"resource": rp.resource} if rp.resource else {}),
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


def _response_values(text: str) -> dict[str, str]:
    """The parameters of a pasted URL or query string, each present at most once."""
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
    return values


def _checked_response(
    values: dict[str, str], *, state: str, issuer: str, iss_required: bool
) -> PastedResponse:
    """`iss` (RFC 9207 §2.4), `state`, then an `error` or the code, in that order."""
    iss_checked = "iss" in values or iss_required
    if iss_checked and values.get("iss") != issuer:
        raise ResponseMismatch(
            f"the response comes from issuer {to_printable(values.get('iss', '(none)'))!r}, "
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


def parse_pasted_response(
    text: str, *, state: str, issuer: str, iss_required: bool = False
) -> PastedResponse:
    """The authorization code from what the end user pasted: a bare code or the receiver's URL.

    From a URL (or its query string) it checks `state`, and `iss` when present or when
    the IdP promised it (RFC 9207 §2.4), and turns an `error` into OAuthError. A bare code
    carries neither, so nothing can be checked: pasting the whole URL is the safer habit.
    Raises UnreadablePaste for text that is no response (ask again), ResponseMismatch for
    one that answers another request; messages are fit for the end user who pasted.
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
    return _checked_response(
        _response_values(text), state=state, issuer=issuer, iss_required=iss_required
    )
