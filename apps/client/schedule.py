"""When to refresh and how long to back off: pure functions of a clock the caller passes."""

import math
from collections.abc import Iterator

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# 1 + 2 + 4 + 8 + 16 + 9 * 30 = 301 s: an IdP away for five minutes (a restart, a failover)
# is waited out, never more than 30 s late once it is back.
BACKOFF_ATTEMPTS = 14


def retry_delays(
    *,
    first: float = BACKOFF_FIRST_SECONDS,
    factor: float = 2.0,
    cap: float = BACKOFF_CAP_SECONDS,
    attempts: int = BACKOFF_ATTEMPTS,
) -> Iterator[float]:
    """Pauses before each retry: exponential from `first`, at most `cap`, `attempts` of them."""
    delay = first
    for _ in range(attempts):
        yield min(delay, cap)
        delay *= factor


def next_refresh_at(*, started: float, interval: float, now: float) -> float:
    """The first tick of `started + k * interval` (k >= 1) after `now`.

    Ticks keep to the schedule however long a refresh took, and a tick missed while
    the IdP was away is skipped rather than caught up in a burst.
    """
    if interval <= 0:
        raise ValueError("interval must be positive")
    ticks = max(1, math.floor((now - started) / interval) + 1)
    return started + ticks * interval


def format_duration(seconds: float) -> str:
    """`1h02m03s`, `2m05s`, `7s`: how long the client has been alive."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
