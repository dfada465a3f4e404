"""The loopback receiver: a real server on 127.0.0.1, a stand-in browser, a stub IdP."""

import threading
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from apps.client import oidc
from apps.client.errors import ClientAbort
from apps.client.loopback import LoopbackReceiver, LoopbackSignIn
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal
from tests.client.test_oidc import ISSUER, META

PROVIDER = oidc.Provider(**META)
TOKENS = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": "x.y.z"}


def browser() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # no proxy between us and 127.0.0.1
    return http


class Browser:
    """Opens the printed URL: visits the callback with the answers given, in turn."""

    def __init__(self, *answers) -> None:
        self.answers = answers  # each: a function of the request's params -> query dict
        self.pages: list[tuple[int, str]] = []
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> bool:
        params = dict(parse_qsl(urlsplit(url).query))
        self.thread = threading.Thread(target=self.visit, args=(params,))
        self.thread.start()
        return True

    def visit(self, params: dict[str, str]) -> None:
        with browser() as http:
            for make in self.answers:
                query = urlencode(make(params))
                answer = http.get(f"{params['redirect_uri']}?{query}", timeout=5)
                self.pages.append((answer.status_code, answer.text))


def sign_in_with(browser_stand_in, *, timeout=10.0):
    terminal = RecordingTerminal()
    rp = oidc.RelyingParty(client_id="cli-1", redirect_uri="unused")
    http = StubHTTP({("POST", META["token_endpoint"]): response(200, TOKENS)})
    with LoopbackReceiver() as receiver:
        method = LoopbackSignIn(terminal, receiver, open_url=browser_stand_in, timeout=timeout)
        try:
            signed_in = method(http, PROVIDER, rp)
        finally:
            if browser_stand_in.thread:
                browser_stand_in.thread.join(5)
    return signed_in, terminal, http


def right(params):
    return {"code": "good-code", "state": params["state"], "iss": ISSUER}


def test_the_redirect_uri_is_loopback_with_the_port_the_os_chose():
    with LoopbackReceiver() as receiver:
        assert receiver.port > 0
        assert receiver.redirect_uri == f"http://127.0.0.1:{receiver.port}/callback"


def test_a_wrong_state_is_refused_on_the_page_and_the_right_answer_then_accepted():
    wrong_state = lambda params: {"code": "evil", "state": "someone-elses", "iss": ISSUER}  # noqa: E731
    stand_in = Browser(wrong_state, right)
    signed_in, terminal, http = sign_in_with(stand_in)
    (refused_status, refused_page), (ok_status, ok_page) = stand_in.pages
    assert refused_status == 400 and "state mismatch" in refused_page
    assert "keeps waiting" in refused_page
    assert ok_status == 200 and "You may close this tab" in ok_page
    assert "still waiting" in terminal.stderr_text()
    assert signed_in.tokens.access_token == "at-1"
    form = http.calls[0][2]["data"]
    assert form["code"] == "good-code"  # never the refused one
    assert form["redirect_uri"].startswith("http://127.0.0.1:")


def test_a_wrong_issuer_is_refused():
    wrong_iss = lambda params: {"code": "c", "state": params["state"], "iss": "https://evil"}  # noqa: E731
    stand_in = Browser(wrong_iss, right)
    sign_in_with(stand_in)
    assert stand_in.pages[0][0] == 400 and "issuer" in stand_in.pages[0][1]


def test_a_denied_consent_ends_the_sign_in_and_says_so_on_the_page():
    denied = lambda params: {"error": "access_denied", "state": params["state"], "iss": ISSUER}  # noqa: E731
    stand_in = Browser(denied)
    with pytest.raises(ClientAbort, match="Deny was chosen"):
        sign_in_with(stand_in)
    assert stand_in.pages[0][0] == 200 and "did not complete" in stand_in.pages[0][1]


def test_no_answer_within_the_timeout_stops_with_a_clear_message():
    stand_in = Browser()  # opens nothing back
    with pytest.raises(ClientAbort, match="No answer from the browser within"):
        sign_in_with(stand_in, timeout=0.3)


def test_other_paths_are_not_found_and_the_server_stops_after():
    with LoopbackReceiver() as receiver, browser() as http:
        url = f"http://127.0.0.1:{receiver.port}/favicon.ico"
        assert http.get(url, timeout=5).status_code == 404
    with browser() as http, pytest.raises(requests.ConnectionError):
        http.get(url, timeout=2)
