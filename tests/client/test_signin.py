"""The paste sign-in with an injected line reader, and what every sign-in method shares."""

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from apps.client import oidc
from apps.client.errors import ClientAbort
from apps.client.signin import PASTE_ATTEMPTS, PasteSignIn, SignedIn, sign_in
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal
from tests.client.test_oidc import ISSUER, META

PROVIDER = oidc.Provider(**META)
RP = oidc.RelyingParty(client_id="cli-1", redirect_uri="https://rp.example/")
TOKENS = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": "x.y.z"}


class Lines:
    """A read_line that hands out `lines` in turn, then "" (the end of input)."""

    def __init__(self, *lines: str) -> None:
        self.lines = list(lines)
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return self.lines.pop(0) if self.lines else ""


def request() -> oidc.AuthorizationRequest:
    return oidc.start_authorization(PROVIDER, RP, code_verifier="v" * 43, code_challenge="c")


def test_a_pasted_url_is_read_and_its_state_checked():
    terminal, auth = RecordingTerminal(), request()
    reader = Lines(f"https://rp.example/?{urlencode({'code': 'abc123', 'state': auth.state})}\n")
    pasted = PasteSignIn(terminal, reader).read_code(auth, PROVIDER)
    assert pasted.code == "abc123"
    assert "Authorization code: " in terminal.stdout_text()
    assert "Code abc123… accepted (state checked)." in terminal.stdout_text()


def test_unreadable_lines_are_asked_again_three_times_then_it_gives_up():
    terminal = RecordingTerminal()
    reader = Lines("hello world\n", "\n", "still not a code\n", "never read\n")
    with pytest.raises(ClientAbort, match=f"No usable code after {PASTE_ATTEMPTS} tries"):
        PasteSignIn(terminal, reader).read_code(request(), PROVIDER)
    assert reader.reads == 3
    assert terminal.stderr_text().count("Try again, or Ctrl+C to quit.") == 3


def test_the_end_of_input_stops_the_prompt():
    terminal, reader = RecordingTerminal(), Lines("hello world\n")
    with pytest.raises(ClientAbort, match=r"No code entered \(end of input\)") as failure:
        PasteSignIn(terminal, reader).read_code(request(), PROVIDER)
    assert failure.value.returncode == 1
    assert reader.reads == 2


def test_a_code_given_up_front_is_not_prompted_for():
    terminal, reader = RecordingTerminal(), Lines()
    pasted = PasteSignIn(terminal, reader, code="abc123").read_code(request(), PROVIDER)
    assert pasted.code == "abc123" and reader.reads == 0
    assert "Authorization code: " not in terminal.stdout_text()


def test_a_denied_consent_is_no_retry():
    terminal, auth = RecordingTerminal(), request()
    denied = f"?{urlencode({'error': 'access_denied', 'state': auth.state})}\n"
    with pytest.raises(ClientAbort, match="Deny was chosen on the consent page"):
        PasteSignIn(terminal, Lines(denied)).read_code(auth, PROVIDER)


def test_the_paste_method_exchanges_the_code_with_the_requests_verifier():
    terminal = RecordingTerminal()
    http = StubHTTP({("POST", PROVIDER.token_endpoint): response(200, TOKENS)})

    def paste_what_was_asked() -> str:
        url = terminal.stdout_text().split("\n  ", 1)[1].split("\n", 1)[0]
        state = dict(parse_qsl(urlsplit(url).query))["state"]
        return f"?{urlencode({'code': 'abc123', 'state': state})}\n"

    signed_in = PasteSignIn(terminal, paste_what_was_asked, now=lambda: 1000.0)(http, PROVIDER, RP)
    assert signed_in.tokens.access_token == "at-1"
    assert signed_in.tokens.expires_at == 1300.0
    sent = http.calls[0][2]["data"]
    assert sent["code"] == "abc123" and sent["code_verifier"]
    url = terminal.stdout_text().split("\n  ", 1)[1]
    assert dict(parse_qsl(urlsplit(url.split("\n")[0]).query))["nonce"] == signed_in.nonce


def discovered() -> StubHTTP:
    discovery = f"{ISSUER}/.well-known/openid-configuration"
    return StubHTTP({("GET", discovery): response(200, META)})


def test_sign_in_runs_any_method_and_reports_its_tokens():
    terminal = RecordingTerminal()
    tokens = oidc.Tokens(access_token="at-1", expires_at=1300.0, refresh_token="rt-1")

    def method(http, provider, rp, dpop) -> SignedIn:
        assert provider == PROVIDER and rp == RP
        return SignedIn(tokens=tokens, nonce="n-1")

    session = sign_in(discovered(), ISSUER, RP, method, terminal, now=lambda: 1000.0)
    assert (session.tokens, session.nonce, session.refreshes) == (tokens, "n-1", 0)
    assert f"[ok]Tokens received: access token {oidc.token_tag('at-1')} " in (
        terminal.stdout_text()
    )
    assert "in 300 s" in terminal.stdout_text()


def test_ctrl_c_during_sign_in_exits_130():
    def interrupted(http, provider, rp, dpop):
        raise KeyboardInterrupt

    with pytest.raises(ClientAbort, match="no tokens were issued") as failure:
        sign_in(discovered(), ISSUER, RP, interrupted, RecordingTerminal())
    assert failure.value.returncode == 130


def test_a_protocol_error_during_sign_in_is_a_failed_sign_in():
    def failing(http, provider, rp, dpop):
        raise oidc.OIDCError("the token endpoint answered invalid_grant")

    with pytest.raises(ClientAbort, match="^Sign-in failed: the token endpoint answered"):
        sign_in(discovered(), ISSUER, RP, failing, RecordingTerminal())


def test_an_unreachable_idp_says_what_to_do():
    discovery = f"{ISSUER}/.well-known/openid-configuration"
    http = StubHTTP({("GET", discovery): response(503)})
    with pytest.raises(ClientAbort, match="Cannot reach the IdP: .*make demo"):
        sign_in(http, ISSUER, RP, lambda *args: None, RecordingTerminal())


def url_for(auth, **values):
    return f"https://rp.example/?{urlencode(values)}\n"


def test_a_response_to_another_sign_in_is_refused_and_asked_again():
    terminal, auth = RecordingTerminal(), request()
    reader = Lines(
        url_for(auth, code="theirs", state="another-attempt"),
        url_for(auth, code="theirs", state=auth.state, iss="https://evil.example"),
        url_for(auth, code="ours", state=auth.state),
    )
    pasted = PasteSignIn(terminal, reader).read_code(auth, PROVIDER)
    assert pasted.code == "ours"
    warnings = terminal.stderr_text()
    assert "State mismatch" in warnings and "issuer 'https://evil.example'" in warnings
    assert warnings.count("Try again, or Ctrl+C to quit.") == 2
    assert ".." not in warnings


def test_a_response_without_iss_from_an_idp_that_sends_it_is_asked_again():
    terminal, auth = RecordingTerminal(), request()
    sends_iss = oidc.Provider(**META, authorization_response_iss_parameter_supported=True)
    reader = Lines(
        url_for(auth, code="stripped", state=auth.state),  # iss cut off: a mix-up?
        url_for(auth, code="ours", state=auth.state, iss=ISSUER),
    )
    pasted = PasteSignIn(terminal, reader).read_code(auth, sends_iss)
    assert pasted.code == "ours" and pasted.iss_checked
    assert "issuer '(none)'" in terminal.stderr_text() and reader.reads == 2


def test_a_code_the_idp_refuses_is_asked_again_in_the_same_sign_in():
    terminal = RecordingTerminal()
    token_endpoint = META["token_endpoint"]
    http = StubHTTP(
        {
            ("POST", token_endpoint): [
                response(400, {"error": "invalid_grant", "error_description": "bad code"}),
                response(200, TOKENS),
            ]
        }
    )
    reader = Lines("mistyped1\n", "rightcode\n")
    signed_in = PasteSignIn(terminal, reader)(http, PROVIDER, RP)
    assert signed_in.tokens.access_token == "at-1"
    assert [call[2]["data"]["code"] for call in http.calls] == ["mistyped1", "rightcode"]
    assert "The IdP refused that code" in terminal.stderr_text()
    assert reader.reads == 2


def test_three_failures_of_any_kind_end_the_sign_in():
    terminal = RecordingTerminal()
    refused = response(400, {"error": "invalid_grant"})
    http = StubHTTP({("POST", META["token_endpoint"]): refused})
    reader = Lines("mistyped1\n", "not a code\n", "mistyped2\n", "never read\n")
    with pytest.raises(oidc.InvalidGrant):
        PasteSignIn(terminal, reader)(http, PROVIDER, RP)
    assert reader.reads == 3
