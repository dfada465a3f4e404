"""apps/client/oidc.py without the ID token: discovery, URLs, pasted responses, endpoints."""

import ssl
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import urllib3

from apps.client import oidc
from apps.client.refresh_loop import retrying
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal

ISSUER = "https://idp.example/oidc"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
META = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "userinfo_endpoint": f"{ISSUER}/userinfo",
    "jwks_uri": f"{ISSUER}/jwks",
}
PROVIDER = oidc.Provider(**META, revocation_endpoint=f"{ISSUER}/revoke")
RP = oidc.RelyingParty(client_id="cli-1", redirect_uri="https://mysrv.example:8444/")
STATE = "state-abc"


def discovery_answer(**changes):
    return StubHTTP({("GET", DISCOVERY): response(200, {**META, **changes})})


# --- the HTTP helper, seen through discovery


def test_discover_returns_the_endpoints():
    http = discovery_answer(revocation_endpoint=f"{ISSUER}/revoke")
    provider = oidc.discover(http, ISSUER)
    assert provider == PROVIDER
    method, url, kwargs = http.calls[0]
    assert kwargs["timeout"] == oidc.TIMEOUT_SECONDS
    assert kwargs["allow_redirects"] is False


def test_discover_without_revocation_or_iss_support_says_so():
    provider = oidc.discover(discovery_answer(), ISSUER)
    assert provider.revocation_endpoint is None
    assert provider.authorization_response_iss_parameter_supported is False
    flagged = oidc.discover(
        discovery_answer(authorization_response_iss_parameter_supported=True), ISSUER
    )
    assert flagged.authorization_response_iss_parameter_supported is True


def test_discover_drops_a_trailing_slash_for_the_well_known_path_but_compares_exactly():
    with pytest.raises(oidc.OIDCError, match="discovery names issuer .* expected"):
        oidc.discover(discovery_answer(), f"{ISSUER}/")


def test_discover_refuses_another_issuer():
    with pytest.raises(oidc.OIDCError, match="'https://evil.example/oidc', expected"):
        oidc.discover(discovery_answer(issuer="https://evil.example/oidc"), ISSUER)


def test_discover_refuses_a_document_without_a_token_endpoint():
    meta = {name: value for name, value in META.items() if name != "token_endpoint"}
    http = StubHTTP({("GET", DISCOVERY): response(200, meta)})
    with pytest.raises(oidc.OIDCError, match="lacks token_endpoint"):
        oidc.discover(http, ISSUER)


def test_discover_refuses_plain_http_endpoints():
    with pytest.raises(oidc.OIDCError, match="token_endpoint is not an https URL"):
        oidc.discover(discovery_answer(token_endpoint="http://idp.example/oidc/token"), ISSUER)
    with pytest.raises(oidc.OIDCError, match="issuer is not an https URL"):
        oidc.discover(discovery_answer(), "http://idp.example/oidc")


@pytest.mark.parametrize(
    ("failure", "kind", "message"),
    [
        (
            requests.exceptions.ConnectionError(
                "HTTPSConnectionPool(host='idp.example', port=443): Max retries exceeded "
                "(Caused by NewConnectionError(': Failed to establish a new connection: "
                "[Errno 111] Connection refused'))"
            ),
            oidc.TransientError,
            "cannot connect to https://idp.example: Connection refused",
        ),
        (
            requests.exceptions.ConnectionError(
                "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
            ),
            oidc.TransientError,
            "cannot connect to https://idp.example: Connection reset by peer$",
        ),
        (
            requests.exceptions.ConnectionError(
                "('Connection aborted.', RemoteDisconnected('Remote end closed connection "
                "without response'))"
            ),
            oidc.TransientError,
            "cannot connect to https://idp.example: Remote end closed connection without response$",
        ),
        (requests.exceptions.ReadTimeout("read timed out"), oidc.TransientError, "within 10 s"),
        (OSError("Could not find a suitable TLS CA certificate bundle"), oidc.OIDCError, "bundle"),
    ],
)
def test_transport_failures_become_oidc_errors(failure, kind, message):
    with pytest.raises(kind, match=message) as raised:
        oidc.discover(StubHTTP({("GET", DISCOVERY): failure}), ISSUER)
    if kind is oidc.OIDCError:
        assert not isinstance(raised.value, oidc.TransientError)  # not worth retrying


def as_requests_raises(error: ssl.SSLError) -> requests.exceptions.SSLError:
    """An ssl error wrapped as urllib3 and requests wrap it, their long reprs included."""
    reason = urllib3.exceptions.SSLError(error)
    return requests.exceptions.SSLError(urllib3.exceptions.MaxRetryError(None, "/oidc", reason))


def ssl_error(kind, text: str, library: str, **attributes) -> ssl.SSLError:
    """What the ssl module raises: the message with OpenSSL's codes, and their attributes."""
    error = kind(1, text)
    error.library = library
    for name, value in attributes.items():
        setattr(error, name, value)
    return error


UNTRUSTED = ssl_error(
    ssl.SSLCertVerificationError,
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
    "certificate (_ssl.c:1006)",
    "SSL",
    verify_code=20,
    verify_message="unable to get local issuer certificate",
)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            UNTRUSTED,
            "The IdP's certificate at https://idp.example is not trusted with the CA file "
            "/ca.pem (unable to get local issuer certificate): pass --ca-file (or set "
            "OIDC_CA_BUNDLE) with the CA that signed the IdP's certificate",
        ),
        (
            ssl_error(
                ssl.SSLCertVerificationError,
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
                "certificate is not valid for 'idp.example'. (_ssl.c:1006)",
                "SSL",
                verify_code=62,
                verify_message="Hostname mismatch, certificate is not valid for 'idp.example'.",
            ),
            "(Hostname mismatch, certificate is not valid for 'idp.example'): pass --issuer "
            "with a name the certificate was made for.",
        ),
        (
            ssl_error(
                ssl.SSLCertVerificationError,
                "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has "
                "expired (_ssl.c:1006)",
                "SSL",
                verify_code=10,
                verify_message="certificate has expired",
            ),
            "(certificate has expired): the IdP's certificate must be renewed",
        ),
        (
            ssl_error(
                ssl.SSLError,
                "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)",
                "SSL",
                reason="WRONG_VERSION_NUMBER",
            ),
            "TLS handshake with https://idp.example failed (wrong version number): is it an "
            "HTTPS server, on that port?",
        ),
        (
            ssl_error(
                ssl.SSLError,
                "[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4154)",
                "X509",
            ),
            "Cannot use the CA file /ca.pem (no certificate or crl found): pass --ca-file "
            "with the PEM certificate of a CA.",
        ),
    ],
)
def test_a_tls_failure_is_one_sentence_without_the_librarys_internals(error, said):
    http = StubHTTP({("GET", DISCOVERY): as_requests_raises(error)})
    http.verify = "/ca.pem"
    with pytest.raises(oidc.TLSFailure) as raised:
        oidc.discover(http, ISSUER)
    message = str(raised.value)
    assert said in message
    for internal in ("_ssl.c", "SSLError", "MaxRetryError", "HTTPSConnectionPool", "[SSL:"):
        assert internal not in message
    assert "\n" not in message and not isinstance(raised.value, oidc.TransientError)


def test_a_connection_closed_during_the_handshake_is_an_outage_to_wait_out():
    closed = ssl_error(ssl.SSLEOFError, "EOF occurred in violation of protocol (_ssl.c:992)", "SSL")
    http = StubHTTP({("GET", DISCOVERY): as_requests_raises(closed)})
    with pytest.raises(oidc.TransientError, match="closed during the TLS handshake$"):
        oidc.discover(http, ISSUER)


def test_a_tls_failure_while_refreshing_is_said_once_not_retried():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): as_requests_raises(UNTRUSTED)})
    terminal = RecordingTerminal()
    pauses: list[float] = []
    with pytest.raises(oidc.TLSFailure):
        retrying(
            "refresh",
            lambda: oidc.refresh(http, PROVIDER, RP, refresh_token="rt-1", now=1000.0),
            delays=iter([1.0, 2.0]),
            sleep=pauses.append,
            terminal=terminal,
        )
    assert http.count("POST", PROVIDER.token_endpoint) == 1 and pauses == []
    assert terminal.stderr_text() == ""


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_side_failures_are_transient(status):
    http = StubHTTP({("GET", DISCOVERY): response(status, text="<h1>down</h1>")})
    with pytest.raises(oidc.TransientError, match=f"HTTP {status}"):
        oidc.discover(http, ISSUER)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            response(200, text="<html>not json</html>", headers={"Content-Type": "text/html"}),
            "JSON",
        ),
        (response(200, ["a", "list"]), "not an object"),
        (response(404, text="nope"), "HTTP 404"),
        (response(302, headers={"Location": "https://elsewhere/"}), "redirected"),
    ],
)
def test_junk_answers_are_readable_errors(answer, message):
    with pytest.raises(oidc.OIDCError, match=message):
        oidc.discover(StubHTTP({("GET", DISCOVERY): answer}), ISSUER)


# --- the authorization request


def test_authorization_url_has_the_seeds_shape_plus_state_and_nonce():
    url = oidc.authorization_url(PROVIDER, RP, code_challenge="CH", state="ST", nonce="NO")
    assert url == (
        "https://idp.example/oidc/authorize?client_id=cli-1&response_type=code"
        "&scope=openid+profile+email+offline_access"
        "&redirect_uri=https%3A%2F%2Fmysrv.example%3A8444%2F"
        "&code_challenge=CH&code_challenge_method=S256&state=ST&nonce=NO"
    )


def test_authorization_url_keeps_a_query_the_endpoint_already_has():
    provider = oidc.Provider(**{**META, "authorization_endpoint": f"{ISSUER}/authorize?tenant=a"})
    url = oidc.authorization_url(provider, RP, code_challenge="CH", state="ST", nonce="NO")
    assert url.startswith(f"{ISSUER}/authorize?tenant=a&client_id=cli-1&")


def test_each_authorization_request_has_fresh_state_and_nonce():
    first, second = (
        oidc.start_authorization(PROVIDER, RP, code_verifier="verifier-xyz", code_challenge="c")
        for _ in range(2)
    )
    assert len({first.state, first.nonce, second.state, second.nonce}) == 4
    assert len(first.state) >= 22  # 128 bits
    params = dict(parse_qsl(urlsplit(first.url).query))
    assert (params["state"], params["nonce"]) == (first.state, first.nonce)
    assert "verifier-xyz" not in repr(first)


# --- what a person pastes


def parse(text, **options):
    return oidc.parse_pasted_response(text, state=STATE, issuer=ISSUER, **options)


def test_a_bare_code_is_taken_as_is_and_said_to_be_unchecked():
    pasted = parse("  0123abcd-ef\n")
    assert (pasted.code, pasted.state_checked, pasted.iss_checked) == ("0123abcd-ef", False, False)


@pytest.mark.parametrize(
    "text",
    [
        f"https://mysrv.example:8444/?code=c0de&state={STATE}",
        f"?code=c0de&state={STATE}",
        f"code=c0de&state={STATE}",
        f"  https://mysrv.example:8444/?state={STATE}&code=c0de  \n",
    ],
)
def test_the_receivers_url_or_its_query_gives_the_code_with_state_checked(text):
    pasted = parse(text)
    assert (pasted.code, pasted.state_checked, pasted.iss_checked) == ("c0de", True, False)


def test_iss_in_the_response_is_checked_when_present_rfc_9207():
    pasted = parse(f"https://r.example/?code=c0de&state={STATE}&iss={ISSUER}")
    assert pasted.iss_checked
    with pytest.raises(oidc.ResponseMismatch, match="issuer 'https://evil.example'"):
        parse(f"https://r.example/?code=c0de&state={STATE}&iss=https://evil.example")


def test_iss_is_required_when_the_idp_promised_it():
    with pytest.raises(oidc.ResponseMismatch, match=r"issuer '\(none\)'"):
        parse(f"https://r.example/?code=c0de&state={STATE}", iss_required=True)


@pytest.mark.parametrize(
    "text",
    [
        "https://r.example/?code=c0de&state=another-attempt",
        "https://r.example/?error=access_denied&state=another-attempt",
    ],
)
def test_a_response_to_another_attempt_is_a_state_mismatch(text):
    with pytest.raises(oidc.ResponseMismatch, match="state mismatch"):
        parse(text)


def test_a_code_url_without_state_is_refused():
    with pytest.raises(oidc.ResponseMismatch, match="no state"):
        parse("https://r.example/?code=c0de")


def test_an_error_is_reported_with_its_description():
    with pytest.raises(oidc.OAuthError) as raised:
        parse(
            f"https://r.example/?error=access_denied&error_description=The+user+said+no"
            f"&state={STATE}"
        )
    assert raised.value.error == "access_denied"
    assert raised.value.description == "The user said no"
    assert str(raised.value) == "the authorization server answered access_denied: The user said no"


def test_an_errors_description_cannot_drive_the_terminal():
    with pytest.raises(oidc.OAuthError) as raised:
        parse(f"?error=access_denied&error_description=%1b%5b31mred%07&state={STATE}")
    assert "\x1b" not in str(raised.value) and "\x07" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing was pasted"),
        ("   \n", "nothing was pasted"),
        ("hello world", "neither an authorization code nor"),
        ("\x1b[A", "neither an authorization code nor"),
        ("https://idp.example/oidc/authorize?client_id=x", "neither a code nor an error"),
        (f"?code=a&code=b&state={STATE}", "repeats code"),
        (f"?code=&state={STATE}", "empty or malformed"),
        ("x" * 600, "neither an authorization code nor"),
    ],
)
def test_unreadable_pastes_are_clear_errors(text, message):
    with pytest.raises(oidc.UnreadablePaste, match=message):
        parse(text)


# --- token endpoint, userinfo, revocation


def token_answer(**changes):
    body = {
        "access_token": "access-1",
        "token_type": "bearer",
        "expires_in": 300,
        "refresh_token": "refresh-1",
        "id_token": "h.p.s",
    }
    body.update(changes)
    return response(200, {name: value for name, value in body.items() if value is not None})


def test_exchange_code_sends_the_verifier_and_no_secret():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): token_answer()})
    tokens = oidc.exchange_code(
        http, PROVIDER, RP, code="c0de", code_verifier="verifier-123", now=1000.0
    )
    assert tokens.access_token == "access-1" and tokens.refresh_token == "refresh-1"
    assert tokens.expires_at == 1300.0
    assert http.calls[0][2]["data"] == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": RP.redirect_uri,
        "client_id": "cli-1",
        "code_verifier": "verifier-123",
    }
    assert "access-1" not in repr(tokens)


def test_exchange_code_shows_invalid_grant_as_the_idps_error():
    http = StubHTTP(
        {
            ("POST", PROVIDER.token_endpoint): response(
                400, {"error": "invalid_grant", "error_description": "The code has expired."}
            )
        }
    )
    with pytest.raises(oidc.InvalidGrant) as raised:
        oidc.exchange_code(http, PROVIDER, RP, code="old", code_verifier="v", now=0.0)
    assert str(raised.value) == "the token endpoint answered invalid_grant: The code has expired."


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"access_token": None}, "without an access_token"),
        ({"token_type": "mac"}, "not Bearer or DPoP"),
        ({"expires_in": "soon"}, "expires_in='soon'"),
        ({"id_token": None}, "no ID token"),
    ],
)
def test_exchange_code_refuses_odd_token_responses(changes, message):
    http = StubHTTP({("POST", PROVIDER.token_endpoint): token_answer(**changes)})
    with pytest.raises(oidc.OIDCError, match=message):
        oidc.exchange_code(http, PROVIDER, RP, code="c", code_verifier="v", now=0.0)


def test_refresh_sends_the_refresh_token_and_keeps_the_rotated_one():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): token_answer(refresh_token="refresh-2")})
    tokens = oidc.refresh(http, PROVIDER, RP, refresh_token="refresh-1", now=50.0)
    assert tokens.refresh_token == "refresh-2" and tokens.expires_at == 350.0
    assert http.calls[0][2]["data"] == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-1",
        "client_id": "cli-1",
    }


def test_refresh_without_a_new_refresh_token_keeps_the_old_one():
    http = StubHTTP({("POST", PROVIDER.token_endpoint): token_answer(refresh_token=None)})
    tokens = oidc.refresh(http, PROVIDER, RP, refresh_token="refresh-1", now=0.0)
    assert tokens.refresh_token == "refresh-1"


def test_userinfo_uses_the_bearer_token_and_checks_sub():
    http = StubHTTP(
        {("GET", PROVIDER.userinfo_endpoint): response(200, {"sub": "7", "name": "Alice"})}
    )
    claims = oidc.fetch_userinfo(http, PROVIDER, access_token="access-1", sub="7")
    assert claims["name"] == "Alice"
    assert http.calls[0][2]["headers"]["Authorization"] == "Bearer access-1"
    with pytest.raises(oidc.OIDCError, match="about sub '7', but the ID token about '8'"):
        oidc.fetch_userinfo(http, PROVIDER, access_token="access-1", sub="8")


def test_userinfo_reports_the_bearer_error_header():
    header = 'Bearer error="invalid_token", error_description="The access token is invalid"'
    http = StubHTTP(
        {("GET", PROVIDER.userinfo_endpoint): response(401, headers={"WWW-Authenticate": header})}
    )
    with pytest.raises(oidc.OAuthError, match="userinfo answered invalid_token: The access"):
        oidc.fetch_userinfo(http, PROVIDER, access_token="stale", sub="7")


def test_revoke_posts_the_refresh_token_as_a_public_client_rfc_7009():
    http = StubHTTP({("POST", PROVIDER.revocation_endpoint): response(200)})
    oidc.revoke(http, PROVIDER, RP, token="refresh-1")
    assert http.calls[0][2]["data"] == {
        "token": "refresh-1",
        "token_type_hint": "refresh_token",
        "client_id": "cli-1",
    }


def test_revoke_needs_an_endpoint_and_reports_failures():
    with pytest.raises(oidc.OIDCError, match="no revocation_endpoint"):
        oidc.revoke(StubHTTP({}), oidc.Provider(**META), RP, token="t")
    http = StubHTTP({("POST", PROVIDER.revocation_endpoint): response(503)})
    with pytest.raises(oidc.TransientError):
        oidc.revoke(http, PROVIDER, RP, token="t")


def test_short_shows_a_prefix_only():
    assert oidc.short("0123456789abcdef") == "012345…"
    assert oidc.short(None) == "(none)"


def test_fingerprint_tells_apart_tokens_of_one_family_and_hides_them():
    first, second = "family01.secret-one-abcdef", "family01.secret-two-abcdef"
    assert oidc.token_tag(first) != oidc.token_tag(second)
    assert oidc.token_tag(first) == oidc.token_tag(first)
    assert "family01" not in oidc.token_tag(first)
    assert oidc.token_tag(None) == "(none)"


def test_discovery_reads_the_device_authorization_endpoint():
    http = StubHTTP(
        {
            ("GET", DISCOVERY): response(
                200, {**META, "device_authorization_endpoint": f"{ISSUER}/d"}
            )
        }
    )
    assert oidc.discover(http, ISSUER).device_authorization_endpoint == f"{ISSUER}/d"
    plain = StubHTTP({("GET", DISCOVERY): response(200, META)})
    assert oidc.discover(plain, ISSUER).device_authorization_endpoint is None
