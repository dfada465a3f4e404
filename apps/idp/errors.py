"""The IdP's one family of OAuth errors, and where each kind of answer is rendered.

Protocol code raises an `OAuthError`; a view turns it into JSON for the back channel
(RFC 6749 §5.2, RFC 6750 §3) or a page for the browser. An error may carry a `consequence`:
writes that must commit although the request is refused and its own writes rolled back
(a code used up by a wrong verifier, a grant revoked on replay). The endpoint that catches
the error runs it in a transaction of its own.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

BASIC_CHALLENGE = 'Basic realm="oidc"'


class OAuthError(Exception):
    """An OAuth error code with its description and HTTP status."""

    error = "invalid_request"
    status = 400

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        consequence: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status or self.status
        self.consequence = consequence

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _kind(name: str, error: str, status: int = 400) -> type[OAuthError]:
    return type(name, (OAuthError,), {"error": error, "status": status, "__module__": __name__})


# RFC 6749 §5.2 (token endpoint), §4.1.2.1 (authorization), RFC 6750 §3.1 (bearer tokens).
InvalidRequest = _kind("InvalidRequest", "invalid_request")
InvalidClient = _kind("InvalidClient", "invalid_client", 401)
InvalidGrant = _kind("InvalidGrant", "invalid_grant")
InvalidScope = _kind("InvalidScope", "invalid_scope")
UnauthorizedClient = _kind("UnauthorizedClient", "unauthorized_client")
UnsupportedGrantType = _kind("UnsupportedGrantType", "unsupported_grant_type")
UnsupportedResponseType = _kind("UnsupportedResponseType", "unsupported_response_type")
TemporarilyUnavailable = _kind("TemporarilyUnavailable", "temporarily_unavailable", 503)
InvalidToken = _kind("InvalidToken", "invalid_token", 401)
InsufficientScope = _kind("InsufficientScope", "insufficient_scope", 403)
# RFC 8628 §3.5: what a device polling the token endpoint hears (all 400, as §5.2's errors).
AuthorizationPending = _kind("AuthorizationPending", "authorization_pending")
SlowDown = _kind("SlowDown", "slow_down")
ExpiredToken = _kind("ExpiredToken", "expired_token")
AccessDenied = _kind("AccessDenied", "access_denied")
# RFC 9449 §5, §7.1, §8: a DPoP proof that fails a check, or lacks the server's nonce. 400 at
# the token endpoint; a protected resource (userinfo) answers them with 401.
InvalidDPoPProof = _kind("InvalidDPoPProof", "invalid_dpop_proof")
UseDPoPNonce = _kind("UseDPoPNonce", "use_dpop_nonce")


class InvalidHint(InvalidRequest):
    """An id_token_hint that is malformed, not ours, or signed with a key we do not hold.

    The page says only that; `reason` tells the logs which check refused it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__("The id_token_hint is not a valid ID token from this provider.")
        self.reason = reason


def oauth_json(body: dict, status: int = 200) -> JsonResponse:
    """A back-channel answer: JSON that no cache keeps (RFC 6749 §5.1)."""
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def json_error(error: OAuthError, www_authenticate: str | None = None) -> JsonResponse:
    """A back-channel error (RFC 6749 §5.2), with the challenge its endpoint sends, if any."""
    response = oauth_json(error.body(), error.status)
    if www_authenticate:
        response["WWW-Authenticate"] = www_authenticate
    return response


def bearer_challenge(error: OAuthError) -> str:
    """RFC 6750 §3: the Bearer challenge naming the error."""
    return f'Bearer error="{error.error}", error_description="{error.description}"'


def dpop_challenge(error: OAuthError, algs: tuple[str, ...]) -> str:
    """RFC 9449 §7.1: the DPoP challenge naming the error and the proof algorithms accepted.

    The description may quote a proof's values: only printable ASCII without quotes or
    backslashes goes into the quoted string (RFC 9110 §5.6.4).
    """
    description = "".join(
        char if " " <= char <= "~" and char not in '"\\' else "?" for char in error.description
    )
    return f'DPoP error="{error.error}", error_description="{description}", algs="{" ".join(algs)}"'


def method_not_allowed(allowed: str) -> JsonResponse:
    """405 as JSON, for back-channel endpoints that only programs call."""
    verbs = " or ".join(allowed.split(", "))
    response = json_error(InvalidRequest(f"Use {verbs}.", status=405))
    response["Allow"] = allowed
    return response


def error_page(request: HttpRequest, error: str, description: str) -> HttpResponse:
    """A front-channel error that cannot go back to the client: a page for the user."""
    context = {"error": error, "description": description}
    return render(request, "oidc_provider/error.html", context, status=400)


# OIDC Core §3.1.2.6: authentication errors of the authorization endpoint.
LoginRequired = _kind("LoginRequired", "login_required")
AccountSelectionRequired = _kind("AccountSelectionRequired", "account_selection_required")
RequestNotSupported = _kind("RequestNotSupported", "request_not_supported")
RequestUriNotSupported = _kind("RequestUriNotSupported", "request_uri_not_supported")
RegistrationNotSupported = _kind("RegistrationNotSupported", "registration_not_supported")
