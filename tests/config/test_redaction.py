"""No code, token or secret reaches a log, at any level (the filter settings.LOGGING installs)."""

import io
import logging
import re
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from oidc_provider.models import Client as OIDCClient

from config import redaction
from config.redaction import MASK, RedactSecrets, redact
from tests.idp.oauth import authorize, exchange, refresh

HEX = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "message",
    [
        f"[Token] Code does not exist: {HEX}",
        "GET /?code=abc123XYZ&state=s&iss=https://idp HTTP/1.1",
        "POST body: grant_type=refresh_token&refresh_token=r-t_1&client_secret=hunter2",
        "params {'code_verifier': 'dBjftJeZ4CVP', 'password': 'hunter2'}",
        'json {"access_token": "at-9", "id_token": "x"}',
        "Authorization: Bearer at-9.more",
        "hint eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl end",
    ],
)
def test_redact_masks_every_secret_shape(message):
    cleaned = redact(message)
    for secret in (HEX, "abc123XYZ", "r-t_1", "hunter2", "dBjftJeZ4CVP", "at-9", "c2lnbmF0dXJl"):
        assert secret not in cleaned
    assert MASK in cleaned


def test_redact_keeps_harmless_text():
    assert redact("error=invalid_grant for client test-cli") == (
        "error=invalid_grant for client test-cli"
    )


def test_filter_redacts_arguments_and_tracebacks():
    try:
        raise ValueError(f"bad code {HEX}")
    except ValueError:
        record = logging.LogRecord(
            "oidc_provider", logging.DEBUG, __file__, 1, "token %s", (HEX,), exc_info=True
        )
        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record) is True
    assert HEX not in record.getMessage()
    assert HEX not in record.exc_text


@pytest.fixture
def log_output():
    """What the handlers configured by settings.LOGGING write, with every logger at DEBUG:
    the root's and the audit trail's."""
    handlers = [*logging.getLogger().handlers, *logging.getLogger("idp.audit").handlers]
    ours = [h for h in handlers if any(isinstance(f, RedactSecrets) for f in h.filters)]
    assert len(ours) >= 2, "settings.LOGGING installs RedactSecrets on root and audit handlers"
    stream = io.StringIO()
    previous = [(handler, handler.setStream(stream)) for handler in ours]
    levels = {name: logging.getLogger(name).level for name in ("", "oidc_provider", "apps")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    for handler, old in previous:
        handler.setStream(old)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_a_whole_flow_at_debug_level_logs_no_secret(idp, public_client, person, log_output):
    authorized = authorize(idp, person)
    tokens = exchange(idp, authorized).json()
    rotated = refresh(idp, tokens["refresh_token"]).json()
    exchange(idp, authorized)  # a replay: logged as a warning
    # The library's own DEBUG lines, as its token endpoint writes them:
    logging.getLogger("oidc_provider.lib.endpoints.token").debug(
        "[Token] Refresh token does not exist: %s", tokens["refresh_token"]
    )
    # A confidential client with a wrong secret: the library logged both secrets here.
    OIDCClient.objects.create(
        name="app", client_id="app", client_type="confidential", client_secret="s" * 20
    )
    idp.post(
        "/oidc/token",
        {
            "grant_type": "refresh_token",
            "client_id": "app",
            "client_secret": "hunter2",
            "refresh_token": "x",
        },
    )
    written = log_output.getvalue()
    assert "code replay" in written and "Refresh token does not exist" in written
    assert '"event": "code.replay_detected"' in written  # the audit trail is checked too
    secrets = [authorized.code, authorized.verifier, "hunter2", "s" * 20, rotated["id_token"]]
    secrets += [tokens[name] for name in ("access_token", "refresh_token", "id_token")]
    for secret in secrets:
        assert secret not in written


ODD_NAMES = "pwd=hunter2&verifier=v3r1f13r&c%6fde=c0d3&CODE=C0D3&x=anything"
SAFE = "grant_type=refresh_token&client_id=test-cli&scope=openid+email&prompt=login"


@pytest.mark.parametrize(
    ("logger_name", "message", "args"),
    [
        # Werkzeug's request line (runserver_plus)
        (
            "django_extensions.management.commands.runserver_plus",
            '127.0.0.1 - - [01/Dec/2026 10:00:00] "%s" %s -',
            (f"GET /oidc/authorize?{SAFE}&{ODD_NAMES} HTTP/1.1", 302),
        ),
        # granian's access log
        (
            "granian.access",
            '[2026-12-01 10:00:00] 127.0.0.1 - "%s" %d 1.2',
            (f"GET /accounts/login/?{ODD_NAMES}&{SAFE} HTTP/1.1", 200),
        ),
        # runserver's request line and Django's request log
        ("django.server", '"%s" %s %s', (f"POST /oidc/token?{ODD_NAMES} HTTP/1.1", 400, 99)),
        ("django.request", "Bad Request: %s", (f"https://idp.local:8443/oidc/revoke?{ODD_NAMES}",)),
    ],
    ids=["werkzeug", "granian", "django.server", "django.request"],
)
def test_idp_request_lines_keep_only_allow_listed_values(logger_name, message, args):
    record = logging.LogRecord(logger_name, logging.INFO, __file__, 1, message, args, None)
    assert RedactSecrets().filter(record) is True
    written = record.getMessage()
    for value in ("hunter2", "v3r1f13r", "c0d3", "C0D3", "anything"):
        assert value not in written, written
    if SAFE in message % args:
        for kept in ("grant_type=refresh_token", "client_id=test-cli", "scope=openid+email"):
            assert kept in written
    assert "pwd=" in written  # the names stay: they say what was sent


def redact_with_every_pattern(text: str) -> str:
    """`redact` without its shortcuts: every pattern over every line."""
    text = redaction._IDP_QUERY.sub(redaction._allow_listed, text)
    for pattern in redaction._PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


# Pieces of log lines near each pattern's edge: names, separators, schemes, JWT and hex
# starts, and characters that match ASCII letters only case-insensitively (the Kelvin sign, ſ).
FRAGMENTS = (
    *redaction._SENSITIVE_NAMES,
    *(name.upper() for name in redaction._SENSITIVE_NAMES),
    *"=\"':& ?.-_\n",
    *("/oidc/token?", "/accounts/login?", "https://idp", "Bearer ", "BASIC ", "eyJ"),
    *("eyJhbGc.eyJzdWI.c2ln", "0123456789abcdef", "ABCDEF", "x", "ecret"),
    *"\u212a\u017fé",
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join))
@example('{"\u017fecret": "hunter2"}')  # a name only case-insensitive matching sees
@example('{"secret" :\t"hunter2"}')  # white space between the name's quote and its colon
@example('{"grant_type": "refresh_token", "Token"\n: "x"}')  # a name as a value, then a key
def test_redact_masks_what_every_pattern_would(text):
    assert redact(text) == redact_with_every_pattern(text)


HEX_AS_WRITTEN_FIRST = re.compile(r"\b[0-9a-fA-F]{32}\b")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(("0123456789abcdef", *"0aF9gé_-K \n.")), max_size=40).map("".join))
@example("a" * 32)
@example("é" + "a" * 32)
@example("a" * 33)
def test_the_hex_pattern_finds_what_its_plain_spelling_does(text):
    found = [match.span() for match in redaction._PATTERNS[4].finditer(text)]
    assert found == [match.span() for match in HEX_AS_WRITTEN_FIRST.finditer(text)]


def test_redact_leaves_an_audit_line_as_it_is():
    line = (
        '{"time": "2026-12-02T00:57:43.454+00:00", "event": "refresh.rotated", "client_id": '
        '"cli", "user_id": 1, "grant_id": 1, "source": "127.0.0.1", "request_id": '
        '"dc9326e2-0c0a-41d0-adca-2a88430cb04f", "grant_type": "refresh_token"}'
    )
    assert redact(line) == line
