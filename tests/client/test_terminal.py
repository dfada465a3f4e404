"""The terminal output: claim tables, expiry lines, styles and where each line goes."""

from apps.client.terminal import Terminal, claim_lines, expiry
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


def test_long_lines_wrap_at_words_keeping_their_indent_and_urls_whole():
    from apps.client.terminal import wrap

    url = "https://idp.example/oidc/authorize?client_id=cli&state=" + "x" * 120
    text = "Open this URL in your browser, sign in, and allow access to the client now:"
    wrapped = wrap(f"{text}\n\n  {url}\n  an indented line that goes on and on past forty", 40)
    lines = wrapped.split("\n")
    assert all(len(line) <= 40 for line in lines if "https://" not in line)
    assert f"  {url}" in lines  # one line, however long
    assert lines[0] == "Open this URL in your browser, sign in,"
    assert lines[-1].startswith("  ") and lines[-2].startswith("  an indented")
    assert wrap(text, None) == text  # not a terminal: as is


def test_no_color_and_a_dumb_terminal_get_no_styles():
    from apps.client.terminal import styles_wanted

    assert styles_wanted({"TERM": "xterm-256color"}, isatty=True)
    assert not styles_wanted({"TERM": "xterm", "NO_COLOR": "1"}, isatty=True)
    assert not styles_wanted({"TERM": "dumb"}, isatty=True)
    assert not styles_wanted({"TERM": "xterm"}, isatty=False)
    assert styles_wanted({"TERM": "xterm", "NO_COLOR": ""}, isatty=True)  # empty: not set


class ClosedPipe:
    """A stream whose reader has gone after `writes` writes, as a pipe into `| head -1`."""

    def __init__(self, writes: int = 0) -> None:
        self.writes = writes
        self.written: list[str] = []

    def write(self, msg: str = "", style_func=None, ending: str | None = None) -> None:
        if len(self.written) >= self.writes:
            raise BrokenPipeError(32, "Broken pipe")
        self.written.append(msg)

    def flush(self) -> None:
        pass


def test_a_stdout_nobody_reads_is_dropped_and_stderr_still_written():
    stdout, stderr = ClosedPipe(writes=1), ClosedPipe(writes=10)
    terminal = Terminal(stdout, stderr)
    terminal.say("one")
    assert not terminal.stdout_gone
    terminal.say("two")  # no BrokenPipeError: what the client does next still happens
    terminal.say_warning("three")
    terminal.warn("careful")
    assert terminal.stdout_gone
    assert stdout.written == ["one"] and stderr.written == ["careful"]
