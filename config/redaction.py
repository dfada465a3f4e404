"""A logging filter that keeps codes, tokens and secrets out of every log line.

django-oidc-provider logs codes, refresh tokens and client secrets at DEBUG, and request
lines carry `?code=...` to the receiver. Installed on the handlers in `settings.LOGGING`, it
rewrites each record's message (and traceback) before any handler formats it. On the IdP's
own paths a request line keeps only the values of `SAFE_QUERY_NAMES`.
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
    # the library's codes and tokens are uuid4 hex: 32 hex digits, anywhere. Spelled
    # \b[0-9a-fA-F]{32}\b, with the first \b as a look back once a hex digit is found: a
    # pattern that starts with a character class lets re skip to the next hex digit, where
    # one that starts with \b or a group tries every position of the line (a third faster on
    # an audit line; tests/config/test_redaction.py checks both find the same). Group 1 is
    # empty, as the other patterns' prefix is: the whole match is replaced.
    re.compile(r"[0-9a-fA-F](?<!\w.)()[0-9a-fA-F]{31}\b"),
)


# The IdP's sign-in and back-channel paths: their request lines (Werkzeug's, granian's
# access log, django.server, django.request) keep the values of these parameters only. A
# list of names to hide misses `pwd=`, `CODE=` or `c%6fde=`; a list of names to show cannot.
SAFE_QUERY_NAMES = frozenset(
    {
        "grant_type",
        "response_type",
        "response_mode",
        "client_id",
        "scope",
        "code_challenge_method",
        "token_type_hint",
        "prompt",
        "display",
        "max_age",
        "ui_locales",
    }
)
_IDP_QUERY = re.compile(r"((?:https?://[^\s/\"']+)?/(?:oidc|accounts?)/[^\s?\"']*\?)([^\s\"']*)")


def _allow_listed(match: re.Match) -> str:
    pairs = []
    for pair in match.group(2).split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(pair if name in SAFE_QUERY_NAMES or not equals else f"{name}={MASK}")
    return match.group(1) + "&".join(pairs)


def _quoted_name_then_colon(lowered: str) -> bool:
    """Whether a sensitive name is followed by a quote, then white space and a colon: what
    the "name": "value" pattern needs. An audit line names "refresh_token" as a value
    (`"grant_type": "refresh_token"}`), which this tells apart from a key for far less than
    the pattern's scan. str.isspace is the white space re's \\s matches."""
    end = len(lowered)
    for name in _SENSITIVE_NAMES:
        for quote in "\"'":
            found = lowered.find(name + quote)
            while found >= 0:
                after = found + len(name) + 1
                while after < end and lowered[after].isspace():
                    after += 1
                if after < end and lowered[after] == ":":
                    return True
                found = lowered.find(name + quote, found + 1)
    return False


def _can_match(pattern_index: int, text: str, lowered: str) -> bool:
    """False only if `_PATTERNS[pattern_index]` cannot match ASCII `text` (`lowered` its
    lower case): each pattern needs a character or word that a plain `in` finds far faster
    than the regex scans the line (every audit line passes here; make bench)."""
    if pattern_index == 0:  # name=value
        return "=" in text
    if pattern_index == 1:  # "name": "value"
        return ('"' in text or "'" in text) and _quoted_name_then_colon(lowered)
    if pattern_index == 2:
        return "bearer" in lowered or "basic" in lowered
    if pattern_index == 3:
        return "eyJ" in text
    return True  # 32 hex digits: no cheaper test than the pattern itself


def redact(text: str) -> str:
    # Outside ASCII, case-insensitive matching has equivalences `str.lower` lacks (the Kelvin
    # sign matches k): such text goes through every pattern. A mask only ever replaces
    # characters, so what cannot match the line before a substitution cannot after it.
    ascii_only = text.isascii()
    lowered = text.lower() if ascii_only else ""
    if not ascii_only or "?" in text:
        text = _IDP_QUERY.sub(_allow_listed, text)
    for index, pattern in enumerate(_PATTERNS):
        if not ascii_only or _can_match(index, text, lowered):
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
