"""Ctrl+C and SIGTERM both raise Stopped inside the block, and the handlers are restored."""

import signal

import pytest

from apps.client.signals import Stopped, signals_stop_the_client, stop_reason


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_raises_stopped_naming_it(signum):
    before = signal.getsignal(signum)
    with pytest.raises(Stopped) as stopped, signals_stop_the_client():
        signal.raise_signal(signum)
    assert stop_reason(stopped.value) == signal.Signals(signum).name
    assert signal.getsignal(signum) is before


def test_a_plain_keyboard_interrupt_counts_as_ctrl_c():
    assert stop_reason(KeyboardInterrupt()) == "SIGINT"


def test_sighup_stops_the_client_like_sigterm():
    import signal as signals

    from apps.client.signals import Stopped, signals_stop_the_client, stop_reason

    with signals_stop_the_client():
        try:
            signals.raise_signal(signals.SIGHUP)
        except Stopped as stopped:
            assert stop_reason(stopped) == "SIGHUP"
        else:
            raise AssertionError("SIGHUP did not stop the client")
    assert signals.getsignal(signals.SIGHUP) is signals.SIG_DFL
