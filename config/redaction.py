"""A logging filter that keeps codes, tokens and secrets out of every log line.

django-oidc-provider logs codes, refresh tokens and client secrets at DEBUG, and request
lines carry `?code=...` to the receiver. Installed on the handlers in `settings.LOGGING`, it
rewrites each record's message (and traceback) before any handler formats it.
"""

import logging
import re

MASK = "[redacted]"

_SENSITIVE_NAMES = (
    "code",
    "code_verifier",
    "code_challenge",
    "access_token",
    "refresh_token",
    "id_token",
    "id_token_hint",
    "token",
    "client_secret",
    "password",
    "secret",
    "csrfmiddlewaretoken",
    "sessionid",
    "idp_sessionid",
    "idp_csrftoken",
)
_NAMES = "|".join(sorted(_SENSITIVE_NAMES, key=len, reverse=True))
_PATTERNS = (
    # name=value in query strings and form bodies
    re.compile(rf"(?i)(?<![\w-])((?:{_NAMES})=)[^&\s\"']+"),
    # 'name': 'value' and "name": "value" in reprs and JSON
    re.compile(rf"(?i)([\"'](?:{_NAMES})[\"']\s*:\s*[\"'])[^\"']*"),
    # Authorization headers
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[\w\-.~+/=]+"),
    # JWTs (ID tokens) anywhere
    re.compile(r"()\beyJ[\w-]*\.[\w-]*\.[\w-]*"),
    # the library's codes and tokens are uuid4 hex: 32 hex digits, anywhere
    re.compile(r"()\b[0-9a-fA-F]{32}\b"),
)


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


class RedactSecrets(logging.Filter):
    """Replace the record's message by its redacted rendering; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
