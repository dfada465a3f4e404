"""The client's exceptions: the OIDCError family of the protocol modules, and ClientAbort."""

from apps.client.text import to_printable


class OIDCError(Exception):
    """Anything that should stop the client with a readable message."""


class TransientError(OIDCError):
    """The IdP could not be reached or failed on its side (connection, timeout, 5xx, 429).

    Worth retrying after a pause; nothing was wrong with the request itself.
    """


class TLSFailure(OIDCError):
    """The TLS handshake with the IdP failed: an untrusted certificate, another name, not HTTPS.

    Its message is one sentence for the end user (what failed, what to do), without the
    library's internals; never retried, since waiting does not fix a certificate.
    """


class OutageOutlasted(OIDCError):
    """The IdP stayed unreachable or failing through every retry: the client gave up waiting.

    Nothing says the grant is bad: it may well work again once the IdP is back.
    """


class OAuthError(OIDCError):
    """An OAuth 2.0 error response (RFC 6749 §4.1.2.1, §5.2): `error` plus its description."""

    def __init__(self, error: str, description: str | None = None, *, source: str) -> None:
        self.error = to_printable(error, limit=80)
        self.description = to_printable(description, limit=300) if description else None
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


class ClientAbort(Exception):
    """The client stops here: `message` for the end user, `returncode` for the shell.

    Raised by the client's modules; the command turns it into a CommandError.
    """

    def __init__(self, message: str, *, returncode: int = 1) -> None:
        super().__init__(message)
        self.returncode = returncode
