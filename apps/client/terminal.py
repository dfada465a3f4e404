"""What the client shows: lines to stdout and stderr, a prompt, claim tables, times.

No Django: the command hands in its output streams and styles.
"""

import os
import textwrap
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from apps.client.text import to_printable

TIME_CLAIMS = ("exp", "iat", "auth_time", "nbf", "updated_at")
CHECKED_CLAIMS = ("nonce", "at_hash")  # shown as checked, not as values

Style = Callable[[str], str]


class Stream(Protocol):
    """An output stream that ends each message with `ending` (a newline unless told)."""

    def write(self, msg: str = "", style_func: Style | None = None, ending: str | None = None):
        """Write `msg`, then `ending` unless `msg` already ends with it."""

    def flush(self) -> None:
        """Pass on what was written."""


def _plain(text: str) -> str:
    return text


class OutputGone(KeyboardInterrupt):
    """Nobody reads the client's output any more (the reader of its pipe, `| tee` or `| head`,
    exited): the refresh loop ends as on Ctrl+C, revoking the refresh token."""

    signal_name = "nobody reads the output"  # what stop_reason says


def _point_at_devnull(stream: Stream) -> None:
    """What Python's signal docs advise for a closed pipe ("Note on SIGPIPE"): the stream's
    descriptor pointed at os.devnull, so what is still buffered goes nowhere when Python
    flushes it at exit, instead of failing there with a message on stderr."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: nothing to point
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class Terminal:
    """The end user's terminal: `say` to stdout (flushed: read as it goes), `warn` to stderr.

    A stream whose reader has gone is written to no more (`stdout_gone` says so for stdout):
    the client's work goes on without it, above all the revocation when it stops.
    """

    def __init__(
        self,
        stdout: Stream,
        stderr: Stream,
        *,
        success: Style = _plain,
        warning: Style = _plain,
        width: int | None = None,  # wrap at this many columns; None: never (not a terminal)
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self._success = success
        self._warning = warning
        self.width = width
        self._gone: list[Stream] = []

    @property
    def stdout_gone(self) -> bool:
        return self.stdout in self._gone

    def _write(self, stream: Stream, text: str, ending: str | None = None) -> None:
        if stream in self._gone:
            return
        try:
            stream.write(text, ending=ending)
            stream.flush()
        except BrokenPipeError:
            self._gone.append(stream)
            _point_at_devnull(stream)

    def say(self, text: str = "") -> None:
        self._write(self.stdout, wrap(text, self.width))

    def say_success(self, text: str) -> None:
        self._write(self.stdout, self._success(wrap(text, self.width)))  # styled after wrapping

    def say_warning(self, text: str) -> None:
        self._write(self.stdout, self._warning(wrap(text, self.width)))

    def warn(self, text: str) -> None:
        self._write(self.stderr, wrap(text, self.width))

    def prompt(self, text: str) -> None:
        """`text` with no line end: the answer is typed after it."""
        self._write(self.stdout, text, ending="")

    def show_claims(self, claims: dict[str, Any]) -> None:
        for line in claim_lines(claims):
            self.say(line)


def claim_lines(claims: dict[str, Any]) -> list[str]:
    """A table of claims: times as UTC, checked values as "(checked)", empty ones counted."""
    shown = {name: value for name, value in claims.items() if value not in (None, "", [])}
    width = max(map(len, shown), default=0) + 2
    lines = []
    for name, value in shown.items():
        if name in CHECKED_CLAIMS:
            text = "(checked)"
        elif name in TIME_CLAIMS and isinstance(value, int | float):
            text = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        else:
            text = to_printable(str(value))
        lines.append(f"  {name.ljust(width)}{text}")
    if len(shown) < len(claims):
        lines.append(f"  ({len(claims) - len(shown)} empty claims not shown)")
    return lines


def clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def time_of_day() -> str:
    """The start of a progress line, in UTC like every other time the client shows."""
    return datetime.now(UTC).strftime("%H:%M:%S")


def expiry(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "no expiry given"
    return f"expires {clock(epoch)}, in {round(epoch - now)} s"


def sentence(text: str) -> str:
    text = text.rstrip(".")
    return f"{text[:1].upper()}{text[1:]}."


def wrap(text: str, width: int | None) -> str:
    """Each line wrapped at word boundaries to `width`, its indent kept; never inside a word,
    so a URL stays whole (and clickable) however long it is."""
    if not width:
        return text
    wrapped = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip(" "))]
        if len(line) <= width or not line.strip():
            wrapped.append(line)
            continue
        wrapped.extend(
            textwrap.wrap(
                line.strip(" "),
                width=width,
                initial_indent=indent,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(wrapped)


def styles_wanted(environ: Mapping[str, str], *, isatty: bool) -> bool:
    """ANSI styles only on a terminal that has them and a user who has not said NO_COLOR
    (no-color.org: any non-empty value)."""
    return isatty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
