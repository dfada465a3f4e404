import pytest

from apps.client.schedule import format_duration, next_refresh_at, retry_delays


def test_retry_delays_double_up_to_a_cap_and_then_give_up():
    assert list(retry_delays()) == [1, 2, 4, 8, 16] + [30] * 9
    assert sum(retry_delays()) >= 5 * 60  # an IdP away for five minutes is waited out
    assert list(retry_delays(first=0.5, factor=3, cap=5, attempts=4)) == [0.5, 1.5, 4.5, 5]
    assert list(retry_delays(attempts=0)) == []


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (100.0, 160.0),  # just started: one interval later
        (159.9, 160.0),
        (160.0, 220.0),  # on a tick: the next one
        (175.0, 220.0),  # a slow refresh does not shift the schedule
        (400.0, 460.0),  # ticks missed while away are skipped, not caught up
    ],
)
def test_next_refresh_keeps_to_the_schedule_of_the_clock_passed_in(now, expected):
    assert next_refresh_at(started=100.0, interval=60.0, now=now) == expected


def test_next_refresh_needs_a_positive_interval():
    with pytest.raises(ValueError, match="positive"):
        next_refresh_at(started=0.0, interval=0.0, now=1.0)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (7.9, "7s"), (125, "2m05s"), (3723, "1h02m03s"), (-3, "0s")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
