"""OpenID Connect for a public client: discovery, authorization URL, tokens, ID token checks.

Plain values and a `requests.Session` in (the session carries TLS verification), frozen
dataclasses out, one exception family (`OIDCError`). No Django, no settings, no printing.
This module is the façade: the code lives in the modules it re-exports from.
"""

from apps.client.authorization import (
    AuthorizationRequest,
    PastedResponse,
    RelyingParty,
    authorization_url,
    parse_pasted_response,
    start_authorization,
)
from apps.client.discovery import Provider, discover
from apps.client.errors import (
    IDTokenError,
    InvalidGrant,
    OAuthError,
    OIDCError,
    OutageOutlasted,
    ResponseMismatch,
    TLSFailure,
    TransientError,
    UnknownKeyError,
    UnreadablePaste,
)
from apps.client.id_token import (
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY_SECONDS,
    KEY_TYPES,
    SHA256_ALGORITHMS,
    SigningKeys,
    VerifiedToken,
    check_at_hash,
    check_id_token_claims,
    fetch_jwks,
    validate_id_token,
    verify_signature,
)
from apps.client.text import short, to_printable, token_tag
from apps.client.tokens import (
    DEVICE_CODE_GRANT,
    Tokens,
    exchange_code,
    exchange_device_code,
    fetch_userinfo,
    refresh,
    revoke,
)
from apps.client.transport import TIMEOUT_SECONDS

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEVICE_CODE_GRANT",
    "DEFAULT_LEEWAY_SECONDS",
    "KEY_TYPES",
    "SHA256_ALGORITHMS",
    "TIMEOUT_SECONDS",
    "AuthorizationRequest",
    "IDTokenError",
    "InvalidGrant",
    "OAuthError",
    "OIDCError",
    "OutageOutlasted",
    "PastedResponse",
    "Provider",
    "RelyingParty",
    "ResponseMismatch",
    "SigningKeys",
    "TLSFailure",
    "Tokens",
    "TransientError",
    "UnknownKeyError",
    "UnreadablePaste",
    "VerifiedToken",
    "authorization_url",
    "check_at_hash",
    "check_id_token_claims",
    "discover",
    "exchange_code",
    "exchange_device_code",
    "fetch_jwks",
    "fetch_userinfo",
    "parse_pasted_response",
    "refresh",
    "revoke",
    "short",
    "start_authorization",
    "to_printable",
    "token_tag",
    "validate_id_token",
    "verify_signature",
]
