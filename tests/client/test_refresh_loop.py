"""The refresh loop and its retry/backoff, with an injected clock whose sleeps are instant."""

import jwt
import pytest

from apps.client import oidc
from apps.client.dpop import DPoPKey
from apps.client.refresh_loop import RefreshLoop, retrying
from apps.client.session import ClientSession, Clock
from apps.client.signals import stop_reason
from apps.idp.dpop import jwk_thumbprint
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal
from tests.client.test_oidc import META
from tests.client.test_terminal import ClosedPipe

PROVIDER = oidc.Provider(**META)  # no revocation endpoint
RP = oidc.RelyingParty(client_id="cli-1", redirect_uri="https://rp.example/")
USERINFO = response(200, {"sub": "alice-1", "preferred_username": "alice"})


class FakeClock:
    """Time that moves only when slept through; the sleeps are recorded."""

    def __init__(self) -> None:
        self.time = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds

    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, monotonic=lambda: self.time, now=lambda: self.time)


def token_answer(number: int) -> object:
    body = {
        "access_token": f"at-{number}",
        "refresh_token": f"rt-{number}",
        "token_type": "Bearer",
        "expires_in": 300,
    }
    return response(200, body)


def loop_over(http: StubHTTP, fake: FakeClock, delays=(0.5, 1.0)) -> RefreshLoop:
    session = ClientSession(
        provider=PROVIDER,
        rp=RP,
        keys=oidc.SigningKeys(http, PROVIDER),
        nonce="n-1",
        tokens=oidc.Tokens(access_token="at-0", expires_at=None, refresh_token="rt-0"),
        sub="alice-1",
    )
    return RefreshLoop(
        http,
        session,
        RecordingTerminal(),
        clock=fake.clock(),
        retry_delays=lambda: iter(delays),
    )


def test_refreshes_on_schedule_and_reports_each_rotation():
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): [token_answer(1), token_answer(2)],
            ("GET", PROVIDER.userinfo_endpoint): USERINFO,
        }
    )
    fake = FakeClock()
    loop = loop_over(http, fake)
    loop.run(interval=60.0, limit=2)
    assert fake.sleeps == [60.0, 60.0]
    assert loop.session.refreshes == 2
    out = loop.terminal.stdout_text()
    assert "Refreshing every 60 s, 2 times (Ctrl+C stops earlier)." in out
    tags = oidc.token_tag("rt-0"), oidc.token_tag("rt-1"), oidc.token_tag("rt-2")
    assert f"refresh 1: access token {oidc.token_tag('at-1')} expires" in out
    assert f"refresh token rotated {tags[0]} -> {tags[1]}; userinfo OK (alice)" in out
    assert f"refresh token rotated {tags[1]} -> {tags[2]}" in out


def test_a_transient_failure_is_retried_after_the_backoff_delay():
    unavailable = response(503)
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): [unavailable, unavailable, token_answer(1)],
            ("GET", PROVIDER.userinfo_endpoint): USERINFO,
        }
    )
    fake = FakeClock()
    loop = loop_over(http, fake)
    loop.run(interval=60.0, limit=1)
    assert fake.sleeps == [60.0, 0.5, 1.0]  # the wait for the tick, then each backoff delay
    err = loop.terminal.stderr_text()
    assert "refresh failed (the token endpoint answered HTTP 503); retry 1 in 0.5 s" in err
    assert "retry 2 in 1 s" in err
    assert loop.session.refreshes == 1


def test_retries_run_out_with_a_readable_error():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): response(503)})
    fake = FakeClock()
    loop = loop_over(http, fake, delays=(2.0,))
    with pytest.raises(oidc.OIDCError, match="refresh still failing after 1 retries: .*503"):
        loop.run(interval=60.0, limit=1)
    assert fake.sleeps == [60.0, 2.0]
    assert loop.session.refreshes == 0


def test_an_invalid_grant_is_not_retried():
    refused = response(400, {"error": "invalid_grant"})
    http = StubHTTP({("POST", PROVIDER.token_endpoint): refused})
    fake = FakeClock()
    with pytest.raises(oidc.InvalidGrant):
        loop_over(http, fake).run(interval=60.0, limit=None)
    assert fake.sleeps == [60.0]


def test_no_refresh_token_means_nothing_to_refresh():
    fake = FakeClock()
    loop = loop_over(StubHTTP({}), fake)
    loop.session.tokens = oidc.Tokens(access_token="at-0", expires_at=None)
    loop.run(interval=60.0, limit=None)
    assert "[warning]The IdP issued no refresh token" in loop.terminal.stdout_text()
    assert fake.sleeps == []


def test_retrying_returns_the_first_success():
    answers = iter([oidc.TransientError("down"), "ok"])

    def action():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps: list[float] = []
    terminal = RecordingTerminal()
    assert retrying("probe", action, delays=iter([3.0]), sleep=sleeps.append, terminal=terminal)
    assert sleeps == [3.0]
    assert "probe failed (down); retry 1 in 3 s" in terminal.stderr_text()


def test_an_outage_longer_than_the_old_minute_is_survived_with_a_line_per_retry():
    from apps.client import schedule

    unavailable = response(503)
    # Four and a half minutes of 503 (1+2+4+8+16+30*7 = 241 s, then a few more), then back.
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): [unavailable] * 12 + [token_answer(1)],
            ("GET", PROVIDER.userinfo_endpoint): USERINFO,
        }
    )
    fake = FakeClock()
    loop = loop_over(http, fake)
    loop.retry_delays = schedule.retry_delays
    loop.run(interval=60.0, limit=1)
    backoff = fake.sleeps[1:]
    assert max(backoff) == 30 and sum(backoff) > 4 * 60  # capped; far past the old ~61 s
    assert loop.terminal.stderr_text().count("refresh failed") == 12
    assert loop.session.refreshes == 1


def test_after_five_minutes_of_outage_it_gives_up_saying_for_how_long():
    from apps.client import schedule

    http = StubHTTP({("POST", PROVIDER.token_endpoint): response(503)})
    fake = FakeClock()
    loop = loop_over(http, fake)
    loop.retry_delays = schedule.retry_delays
    with pytest.raises(oidc.OutageOutlasted, match=r"after 14 retries: .*503 \(for 5m01s\)"):
        loop.run(interval=60.0, limit=1)


API_URL = "https://mysrv.example:8444/api/profile"
PROFILE = response(200, {"sub": "alice-1", "scope": ["openid", "profile"], "client_id": "cli-1"})


def dpop_token_answer(number: int) -> object:
    body = {"access_token": f"at-{number}", "refresh_token": f"rt-{number}", "token_type": "DPoP"}
    return response(200, body)


def test_each_refresh_is_proven_with_the_sessions_key_and_followed_by_one_api_line():
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): [dpop_token_answer(1), dpop_token_answer(2)],
            ("GET", PROVIDER.userinfo_endpoint): USERINFO,
            ("GET", API_URL): PROFILE,
        }
    )
    loop = loop_over(http, FakeClock())
    loop.session.dpop = key = DPoPKey.generate()
    loop.api_url = API_URL
    loop.run(interval=60.0, limit=2)
    for _, url, kwargs in http.calls:
        header = jwt.get_unverified_header(kwargs["headers"]["DPoP"])
        assert jwk_thumbprint(header["jwk"]) == key.thumbprint, url
    api_calls = [kwargs for _, url, kwargs in http.calls if url == API_URL]
    assert [call["headers"]["Authorization"] for call in api_calls] == ["DPoP at-1", "DPoP at-2"]
    lines = [line for line in loop.terminal.stdout_text().splitlines() if "resource" in line]
    assert lines == ["resource OK: sub=alice-1 scope=openid profile client=cli-1 (DPoP)"] * 2


def test_an_api_refusal_is_one_line_and_the_refreshes_go_on():
    challenge = 'Bearer error="invalid_token", error_description="The access token is not active."'
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): [token_answer(1), token_answer(2)],
            ("GET", PROVIDER.userinfo_endpoint): USERINFO,
            ("GET", API_URL): response(401, headers={"WWW-Authenticate": challenge}),
        }
    )
    loop = loop_over(http, FakeClock())
    loop.api_url = API_URL
    loop.run(interval=60.0, limit=2)
    assert loop.session.refreshes == 2
    lines = [line for line in loop.terminal.stdout_text().splitlines() if "resource" in line]
    assert (
        lines
        == [
            "[warning]resource failed: the resource server answered invalid_token: The access "
            f"token is not active. ({API_URL})"
        ]
        * 2
    )
    assert http.calls[-1][2]["headers"]["Authorization"] == "Bearer at-2"


def test_the_loop_ends_as_on_ctrl_c_once_nobody_reads_its_output():
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): [token_answer(1), token_answer(2)],
            ("GET", PROVIDER.userinfo_endpoint): USERINFO,
        }
    )
    loop = loop_over(http, FakeClock())
    loop.terminal.stdout = ClosedPipe()
    with pytest.raises(KeyboardInterrupt) as stopped:  # what stay_signed_in revokes on
        loop.run(interval=60.0, limit=None)
    assert loop.session.refreshes == 0  # the pipe broke on the loop's first line
    assert stop_reason(stopped.value) == "nobody reads the output"
