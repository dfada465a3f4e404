"""RFC 8628 device sign-in with a stub IdP and a fake clock: intervals, slow_down, expiry."""

import pytest

from apps.client import oidc
from apps.client.device import DeviceSignIn, request_device_code
from apps.client.errors import ClientAbort
from apps.client.session import Clock
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal
from tests.client.test_oidc import ISSUER, META

DEVICE_ENDPOINT = f"{ISSUER}/device"
PROVIDER = oidc.Provider(**META, device_authorization_endpoint=DEVICE_ENDPOINT)
RP = oidc.RelyingParty(client_id="cli-1", redirect_uri="unused", scope="openid offline_access")
TOKENS = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": "x.y.z"}
DEVICE_ANSWER = {
    "device_code": "dev-secret",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://idp.example/device",
    "verification_uri_complete": "https://idp.example/device?user_code=WDJB-MJHT",
    "expires_in": 600,
    "interval": 5,
}


class FakeClock:
    """Time passes only when slept."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def clock(self) -> Clock:
        return Clock(
            sleep=self.sleep,
            monotonic=lambda: self.elapsed,
            now=lambda: 1_000_000 + self.elapsed,
        )


def error(code: str):
    return response(400, {"error": code})


def sign_in(token_answers, device_answer=DEVICE_ANSWER):
    fake, terminal = FakeClock(), RecordingTerminal()
    http = StubHTTP(
        {
            ("POST", DEVICE_ENDPOINT): response(200, device_answer),
            ("POST", META["token_endpoint"]): token_answers,
        }
    )
    method = DeviceSignIn(terminal, clock=fake.clock())
    return method, http, fake, terminal


def test_shows_where_to_go_and_the_code_then_polls_until_allowed():
    method, http, fake, terminal = sign_in(
        [error("authorization_pending"), error("authorization_pending"), response(200, TOKENS)]
    )
    signed_in = method(http, PROVIDER, RP)
    assert signed_in.tokens.access_token == "at-1" and signed_in.nonce == ""
    out = terminal.stdout_text()
    assert "  https://idp.example/device\n" in out
    assert "enter the code  WDJB-MJHT" in out
    assert "  https://idp.example/device?user_code=WDJB-MJHT\n" in out
    assert "Waiting for you to allow access" in out
    assert fake.sleeps == [5, 5, 5]  # the IdP's interval before every poll
    device_form = http.calls[0][2]["data"]
    assert device_form == {"client_id": "cli-1", "scope": "openid offline_access"}
    poll_form = http.calls[1][2]["data"]
    assert poll_form["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert poll_form["device_code"] == "dev-secret" and poll_form["client_id"] == "cli-1"
    assert "dev-secret" not in out


def test_slow_down_adds_five_seconds_to_the_interval_for_good():
    method, http, fake, terminal = sign_in(
        [error("slow_down"), error("authorization_pending"), error("slow_down"),
         response(200, TOKENS)]
    )  # fmt: skip
    method(http, PROVIDER, RP)
    assert fake.sleeps == [5, 10, 10, 15]
    assert "every 15 s from now on" in terminal.stderr_text()


def test_without_an_interval_the_client_polls_every_five_seconds():
    answer = {key: value for key, value in DEVICE_ANSWER.items() if key != "interval"}
    method, http, fake, _ = sign_in([response(200, TOKENS)], device_answer=answer)
    method(http, PROVIDER, RP)
    assert fake.sleeps == [5]


def test_expired_token_and_access_denied_end_the_sign_in_clearly():
    method, http, _, _ = sign_in([error("authorization_pending"), error("expired_token")])
    with pytest.raises(ClientAbort, match="WDJB-MJHT expired before access was allowed"):
        method(http, PROVIDER, RP)
    method, http, _, _ = sign_in([error("access_denied")])
    with pytest.raises(ClientAbort, match="Access was denied"):
        method(http, PROVIDER, RP)


def test_the_client_stops_polling_when_the_code_expires_by_its_own_clock():
    method, http, fake, _ = sign_in([error("authorization_pending")])
    with pytest.raises(ClientAbort, match="expired before access was allowed"):
        method(http, PROVIDER, RP)
    assert sum(fake.sleeps) == 600  # expires_in, polled every 5 s
    assert http.count("POST", META["token_endpoint"]) == 600 // 5 - 1


def test_progress_is_a_line_now_and_then_not_one_per_poll():
    method, http, _, terminal = sign_in([error("authorization_pending")] * 30 + [
        response(200, TOKENS)
    ])  # fmt: skip
    method(http, PROVIDER, RP)
    lines = terminal.stdout_text().count("Waiting for you to allow access")
    assert 3 <= lines <= 6  # 150 s of polling: the first poll, then about every 30 s


def test_an_idp_outage_while_polling_is_survived():
    method, http, _, terminal = sign_in([response(503), response(200, TOKENS)])
    assert method(http, PROVIDER, RP).tokens.access_token == "at-1"
    assert "Polling failed" in terminal.stderr_text()


def test_an_idp_without_device_endpoint_is_told_plainly():
    http = StubHTTP({})
    with pytest.raises(ClientAbort, match="no device_authorization_endpoint.*--loopback"):
        request_device_code(http, oidc.Provider(**META), RP)
