"""Ctrl+C (SIGINT), SIGTERM and SIGHUP (the terminal closed) all raise Stopped, so the
client ends the same way on each: revoking, unless told to remember."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Stopped(KeyboardInterrupt):
    """SIGINT (Ctrl+C), SIGTERM or SIGHUP: end the way Ctrl+C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped(signum)


@contextmanager
def signals_stop_the_client() -> Iterator[None]:
    """Ctrl+C, SIGTERM and SIGHUP raise Stopped, even where a parent shell ignored SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in previous:
        signal.signal(number, _raise_stopped)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def stop_reason(exc: KeyboardInterrupt) -> str:
    """The signal's name; a plain KeyboardInterrupt counts as Ctrl+C."""
    return getattr(exc, "signal_name", "SIGINT")
