"""The terminal output: claim tables, expiry lines, styles and where each line goes."""

from apps.client.terminal import claim_lines, expiry
from tests.client.terminals import RecordingTerminal


def test_claims_are_a_table_with_times_in_utc_and_checked_values_hidden():
    claims = {"sub": "alice-1", "exp": 0, "nonce": "secret-nonce", "email": "", "name": "A\x1b"}
    assert claim_lines(claims) == [
        "  sub    alice-1",
        "  exp    1970-01-01 00:00:00 UTC",
        "  nonce  (checked)",
        "  name   A?",
        "  (1 empty claims not shown)",
    ]


def test_expiry_says_when_and_how_soon():
    assert expiry(3600.0, 3000.0) == "expires 01:00:00 UTC, in 600 s"
    assert expiry(None, 3000.0) == "no expiry given"


def test_say_and_prompt_go_to_stdout_warn_to_stderr():
    terminal = RecordingTerminal()
    terminal.say("one")
    terminal.say_success("two")
    terminal.say_warning("three")
    terminal.prompt("Code: ")
    terminal.warn("careful")
    assert terminal.stdout_text() == "one\n[ok]two\n[warning]three\nCode: "
    assert terminal.stderr_text() == "careful\n"
