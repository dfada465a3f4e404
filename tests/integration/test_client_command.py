"""`manage.py pkce_client` through call_command, against the real IdP over HTTPS.

A stand-in person reads the authorization URL the command printed, signs in and answers
the consent page with requests (tests/flows.py), and pastes back what the receiver got.
"""

import dataclasses
import json
import re
import signal
import socket
import stat
from contextlib import nullcontext
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command
from oidc_provider.models import Token

from apps.client import id_token, oidc, pkce
from apps.client.management.commands.pkce_client import Command
from apps.demo import certs
from apps.idp import keys
from tests import flows
from tests.conftest import END_USER_PASSWORD
from tests.instances import TcpProxy

pytestmark = pytest.mark.integration

AUTHORIZATION_URL = re.compile(r"^  (https://\S+/authorize\?\S+)$", re.MULTILINE)


class Person:
    """The command's line reader: answers the prompt the way someone at a browser would."""

    def __init__(self, stdout: StringIO, origins, *, allow=True, paste="url", lines=()):
        self.stdout = stdout
        self.origins = origins
        self.allow = allow
        self.paste = paste
        self.lines = list(lines)  # typed before the real answer
        self.prompts = 0

    def authorization_url(self) -> str:
        found = AUTHORIZATION_URL.findall(self.stdout.getvalue())
        assert found, "the command printed no authorization URL"
        return found[-1]

    def readline(self) -> str:
        self.prompts += 1
        if self.lines:
            return self.lines.pop(0)
        params = dict(parse_qsl(urlsplit(self.authorization_url()).query))
        with requests.Session() as http:
            http.trust_env = False
            http.verify = self.origins.ca_file
            flows.log_in(http, self.origins.idp_url, "alice", END_USER_PASSWORD)
            answer = flows.consent(http, self.origins.idp_url, params, allow=self.allow)
        if self.paste == "code":
            return answer["code"] + "\n"
        return f"{self.origins.receiver_url}?{urlencode(answer)}\n"


def run_client(origins, monkeypatch, *args, person=None, **person_options):
    """Run the command; return (stdout, stderr) text."""
    stdout, stderr = StringIO(), StringIO()
    person = person or Person(stdout, origins, **person_options)
    person.stdout = stdout
    monkeypatch.setattr(Command, "read_line", staticmethod(person.readline))
    call_command(
        "pkce_client",
        *flows.client_flags(origins),
        *args,
        stdout=stdout,
        stderr=stderr,
    )
    return stdout.getvalue(), stderr.getvalue()


def answer_to_another_sign_in(origins) -> dict[str, str]:
    """What the receiver got for a sign-in this command did not start (its own verifier)."""
    with requests.Session() as http:
        http.trust_env = False
        http.verify = origins.ca_file
        params = flows.authorize_params("test-cli", origins.receiver_url, pkce.make_verifier())
        return flows.authorization_code(http, origins.idp_url, params, "alice", END_USER_PASSWORD)


def client_tokens():
    return Token.objects.filter(client__client_id="test-cli")


@pytest.fixture
def revoked(monkeypatch) -> list[str]:
    """Refresh tokens the command revoked (recorded on their way to oidc.revoke)."""
    tokens: list[str] = []
    real_revoke = oidc.revoke

    def recording(*args, token, **kwargs):
        tokens.append(token)
        return real_revoke(*args, token=token, **kwargs)

    monkeypatch.setattr(oidc, "revoke", recording)
    return tokens


def refresh_as_test_cli(origins, refresh_token: str) -> requests.Response:
    """What the IdP answers the command's client for this refresh token now."""
    with requests.Session() as http:
        http.trust_env = False
        http.verify = origins.ca_file
        return flows.refresh(
            http, origins.idp_url, refresh_token=refresh_token, client_id="test-cli"
        )


def assert_revoked_or_noted(out: str, origins, revoked: list[str]) -> None:
    """With a revocation endpoint, the last refresh token no longer works; without, a note."""
    if "revoked at" not in out:
        assert "Note: the IdP offers no revocation endpoint" in out
        assert revoked == []
        return
    assert len(revoked) == 1
    answer = refresh_as_test_cli(origins, revoked[0])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


@pytest.fixture
def quick(monkeypatch):
    """No real pauses: backoff delays of zero and instant sleeps that are still counted."""
    pauses: list[float] = []
    monkeypatch.setattr(Command, "retry_delays", staticmethod(lambda: iter([0.0, 0.0])))
    monkeypatch.setattr(Command, "sleep", staticmethod(pauses.append))
    return pauses


def test_signs_in_shows_identity_and_refreshes_twice_with_rotation(
    origins, seed_client, end_user, monkeypatch, quick, revoked
):
    out, err = run_client(origins, monkeypatch, "--interval", "0.01", "--max-refreshes", "2")

    assert "Tokens received" in out
    assert re.search(r"accepted \(state (and iss )?checked\)", out)
    assert "ID token valid: RS256 signature" in out
    assert re.search(r"^  aud\s+test-cli$", out, re.MULTILINE)
    assert re.search(r"^  name\s+Alice Liddell$", out, re.MULTILINE)
    assert re.search(r"^  email\s+alice@example.com$", out, re.MULTILINE)
    refreshes = re.findall(r"refresh (\d): access token .*; refresh token ([^;\s]+)", out)
    assert refreshes == [("1", "rotated"), ("2", "rotated")]
    assert "Done: 2 refreshes" in out
    assert_revoked_or_noted(out, origins, revoked)
    assert err == ""
    assert len(quick) == 2  # one wait per refresh


def test_output_never_shows_a_whole_token_or_code(
    origins, seed_client, end_user, monkeypatch, quick
):
    seen: list[str] = []
    real_refresh = oidc.refresh

    def remember(*args, **kwargs):
        tokens = real_refresh(*args, **kwargs)
        seen.extend([tokens.access_token, tokens.refresh_token])
        return tokens

    monkeypatch.setattr(oidc, "refresh", remember)
    out, _ = run_client(origins, monkeypatch, "--interval", "0.01", "--max-refreshes", "1")
    assert seen and all(oidc.token_tag(token) in out for token in seen)  # a tag is shown...
    assert not any(token[:6] in out for token in seen)  # ...never the token, nor its start
    public = re.sub(r"\(kid \w+\)", "", out)  # the signing key's id is public (JWKS)
    assert not re.search(r"[0-9a-f]{20,}", public)  # no code or token of this IdP's shape


def test_bare_code_is_accepted_with_a_note_that_state_was_not_checked(
    origins, seed_client, end_user, monkeypatch, quick
):
    out, _ = run_client(origins, monkeypatch, "--max-refreshes", "0", paste="code")
    assert "a bare code: state and iss cannot be checked" in out
    assert "ID token valid" in out
    assert "refresh 1" not in out


def test_denied_consent_is_reported_as_access_denied(origins, seed_client, end_user, monkeypatch):
    with pytest.raises(CommandError) as failure:
        run_client(origins, monkeypatch, allow=False)
    message = str(failure.value)
    assert "access_denied" in message
    assert "Deny was chosen on the consent page" in message
    assert not client_tokens().exists()


def test_response_from_another_sign_in_is_refused_as_state_mismatch_and_asked_again(
    origins, seed_client, end_user, monkeypatch, quick
):
    answer = answer_to_another_sign_in(origins)
    pasted = f"{origins.receiver_url}?{urlencode(answer)}\n"
    person = Person(StringIO(), origins, lines=[pasted])
    out, err = run_client(origins, monkeypatch, "--max-refreshes", "0", person=person)
    assert "State mismatch" in err and "Try again" in err
    assert person.prompts == 2
    assert "Tokens received" in out  # the right answer, pasted next, signs in


def test_three_mismatched_responses_end_the_sign_in(origins, seed_client, end_user, monkeypatch):
    answer = answer_to_another_sign_in(origins)
    pasted = f"{origins.receiver_url}?{urlencode(answer)}\n"
    with pytest.raises(CommandError, match="No usable code after 3 tries"):
        run_client(origins, monkeypatch, lines=[pasted] * 3)
    assert not client_tokens().exists()


def test_an_hs256_id_token_is_refused_as_forgeable(origins, seed_client, end_user, monkeypatch):
    # An IdP misconfigured behind the admin's back: HS256 keyed with a secret the public
    # client does not (and must not) have. The client cannot trust such a token.
    type(seed_client).objects.filter(pk=seed_client.pk).update(
        jwt_alg="HS256", client_secret="s" * 32
    )
    with pytest.raises(CommandError, match="alg check failed: .*anyone could have forged"):
        run_client(origins, monkeypatch, "--max-refreshes", "0")


def test_an_es256_client_gets_and_checks_es256_id_tokens(
    origins, seed_client, end_user, monkeypatch, quick
):
    type(seed_client).objects.filter(pk=seed_client.pk).update(jwt_alg="ES256")
    out, err = run_client(origins, monkeypatch, "--interval", "0.01", "--max-refreshes", "1")
    assert f"ID token valid: ES256 signature (kid {keys.signing_keys('ES256')[0].kid});" in out
    assert "refresh 1: access token" in out  # the refreshed ID token passed the same checks
    assert err == ""


def test_an_id_token_whose_kid_names_a_key_of_another_type_is_refused(
    origins, seed_client, end_user, monkeypatch
):
    # A JWKS in which the ES256 token's kid names an RSA key: never tried as an EC key.
    type(seed_client).objects.filter(pk=seed_client.pk).update(jwt_alg="ES256")
    es256_kid = keys.signing_keys("ES256")[0].kid
    rsa_only = [key for key in keys.jwks()["keys"] if key["kty"] == "RSA"]
    relabelled = {"keys": [{**rsa_only[0], "kid": es256_kid, "alg": "RS256"}]}
    monkeypatch.setattr(id_token, "fetch_jwks", lambda http, provider: relabelled)
    with pytest.raises(CommandError, match="alg check failed: the token says ES256, but its key"):
        run_client(origins, monkeypatch, "--max-refreshes", "0")


def test_garbage_and_empty_lines_are_asked_again_and_end_of_input_stops(
    origins, seed_client, monkeypatch
):
    person = Person(StringIO(), origins, lines=["hello world\n", "\n", ""])
    with pytest.raises(CommandError, match=r"No code entered \(end of input\)") as failure:
        run_client(origins, monkeypatch, person=person)
    assert failure.value.returncode == 1
    assert person.prompts == 3


def test_the_help_offers_only_what_a_person_can_use():
    shown = Command().create_parser("manage.py", "pkce_client").format_help()
    for flag in ("--loopback", "--device", "--remember", "--status", "--logout", "--no-browser"):
        assert flag in shown
    # A code answers the challenge of the run that printed the URL: none exists before it.
    assert "--code" not in shown


def test_garbage_in_code_option_is_a_clear_error(origins, seed_client, monkeypatch):
    with pytest.raises(CommandError, match="neither an authorization code nor"):
        run_client(origins, monkeypatch, "--code", "not a code")


def test_code_bound_to_another_verifier_shows_the_idps_error(
    origins, seed_client, end_user, monkeypatch
):
    answer = answer_to_another_sign_in(origins)
    with pytest.raises(CommandError, match=r"Sign-in failed: the token endpoint answered invalid_"):
        run_client(origins, monkeypatch, "--code", answer["code"])


def test_ctrl_c_at_the_prompt_exits_130(origins, seed_client, monkeypatch):
    class Interrupting(Person):
        def readline(self):
            raise KeyboardInterrupt

    with pytest.raises(CommandError, match="no tokens were issued") as failure:
        run_client(origins, monkeypatch, person=Interrupting(StringIO(), origins))
    assert failure.value.returncode == 130


def test_ctrl_c_in_the_loop_revokes_and_summarises(
    origins, seed_client, end_user, monkeypatch, quick, revoked
):
    waits = iter([None, KeyboardInterrupt])

    def sleep(seconds):
        if next(waits) is KeyboardInterrupt:
            raise KeyboardInterrupt

    monkeypatch.setattr(Command, "sleep", staticmethod(sleep))
    out, _ = run_client(origins, monkeypatch, "--interval", "0.01")  # returns: exit code 0
    assert "Stopping (SIGINT)." in out
    assert "Done: 1 refresh, alive" in out
    assert_revoked_or_noted(out, origins, revoked)


def test_a_failed_revocation_is_reported_and_the_exit_stays_clean(
    origins, seed_client, end_user, monkeypatch, quick
):
    real_discover = oidc.discover

    def with_revocation(http, issuer):  # an endpoint that is advertised but answers 404
        provider = real_discover(http, issuer)
        return dataclasses.replace(provider, revocation_endpoint=f"{issuer}/no-such-endpoint")

    monkeypatch.setattr(oidc, "discover", with_revocation)
    out, err = run_client(origins, monkeypatch, "--max-refreshes", "1", "--interval", "0.01")
    assert "1 time (Ctrl+C stops earlier and revokes the refresh token)." in out
    assert "Could not revoke the refresh token: the revocation endpoint answered HTTP 404" in err
    assert "Done: 1 refresh" in out


def test_sigterm_in_the_loop_ends_like_ctrl_c(origins, seed_client, end_user, monkeypatch, quick):
    def sleep(seconds):
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(Command, "sleep", staticmethod(sleep))
    out, _ = run_client(origins, monkeypatch, "--interval", "0.01")
    assert "Stopping (SIGTERM)." in out
    assert "Done: 0 refreshes" in out
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_transient_refresh_failure_is_retried_and_said_so(
    origins, seed_client, end_user, monkeypatch, quick
):
    real_refresh = oidc.refresh
    failures = iter([oidc.TransientError("the token endpoint answered HTTP 503")])

    def flaky(*args, **kwargs):
        failure = next(failures, None)
        if failure:
            raise failure
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(oidc, "refresh", flaky)
    out, err = run_client(origins, monkeypatch, "--interval", "0.01", "--max-refreshes", "1")
    assert "refresh failed (the token endpoint answered HTTP 503); retry 1 in 0 s" in err
    assert "refresh 1: access token" in out


def test_revoked_grant_ends_the_loop_asking_to_sign_in_again(
    origins, seed_client, end_user, monkeypatch, quick
):
    real_refresh = oidc.refresh

    def after_revocation(*args, **kwargs):
        client_tokens().delete()  # what revocation or expiry leaves behind at the IdP
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(oidc, "refresh", after_revocation)
    with pytest.raises(CommandError, match="Sign in again") as failure:
        run_client(origins, monkeypatch, "--interval", "0.01")
    assert "invalid_grant" in str(failure.value)


def test_the_environments_ca_bundle_does_not_override_ca_file(
    origins, seed_client, end_user, monkeypatch, tmp_path
):
    other, _ = certs.ensure_certificates(Path(tmp_path))  # requests would prefer this one
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_cert))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other.ca_cert))
    out, _ = run_client(origins, monkeypatch, "--max-refreshes", "0")
    assert "ID token valid" in out


def test_missing_client_id_says_what_to_do(settings, tmp_path):
    settings.PKCE_CLIENT_ID = ""
    settings.PKCE_CLIENT_ID_FILE = tmp_path / "nothing-here"
    with pytest.raises(CommandError, match="Pass --client-id, or set PKCE_CLIENT_ID"):
        call_command("pkce_client", stdout=StringIO())


def test_client_id_comes_from_the_file_seed_client_wrote(settings, tmp_path, monkeypatch):
    settings.PKCE_CLIENT_ID = ""
    settings.PKCE_CLIENT_ID_FILE = tmp_path / "pkce_client_id"
    settings.PKCE_CLIENT_ID_FILE.write_text("from-the-file\n")
    assert Command().client_id(None) == "from-the-file"
    settings.PKCE_CLIENT_ID = "from-the-environment"
    assert Command().client_id(None) == "from-the-environment"
    assert Command().client_id("given") == "given"


def test_missing_ca_file_says_what_to_do(tmp_path):
    with pytest.raises(CommandError, match="CA file .* not found. `make demo` creates"):
        call_command(
            "pkce_client",
            "--client-id",
            "x",
            "--ca-file",
            str(tmp_path / "no.pem"),
            stdout=StringIO(),
        )


def test_unreachable_issuer_says_what_to_do(cert_paths):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CommandError, match="Cannot reach the IdP: .*Connection refused.*make demo"):
        call_command(
            "pkce_client",
            "--client-id",
            "x",
            "--issuer",
            f"https://127.0.0.1:{port}/oidc",
            "--ca-file",
            str(cert_paths.ca_cert),
            stdout=StringIO(),
        )


@pytest.mark.parametrize(
    "method",
    [[], ["--loopback", "--no-browser"], ["--device"], ["--remember"], ["--logout"], ["--status"]],
    ids=["paste", "loopback", "device", "remember", "logout", "status"],
)
def test_a_ca_that_did_not_sign_the_idp_certificate_is_said_once_in_plain_words(
    origins, tmp_path, method
):
    other, _ = certs.ensure_certificates(Path(tmp_path / "other-ca"))
    kept = tmp_path / "grants.json"  # a kept sign-in, for --remember, --logout and --status
    grant = {"issuer": origins.issuer, "client_id": "x", "refresh_token": "rt", "sub": "s"}
    kept.write_text(json.dumps({f"{origins.issuer} x": grant}))
    kept.chmod(0o600)
    flags = ["--client-id", "x", "--issuer", origins.issuer, "--ca-file", str(other.ca_cert)]
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError) if method != ["--status"] else nullcontext() as failure:
        call_command(
            "pkce_client", *flags, *method, "--store", str(kept), stdout=stdout, stderr=stderr
        )
    if method == ["--status"]:  # shows what is kept without asking the IdP anything
        assert "Client id     x" in stdout.getvalue() and stderr.getvalue() == ""
        return
    message = str(failure.value)
    assert message == (
        f"The IdP's certificate at {origins.idp_url} is not trusted with the CA file "
        f"{other.ca_cert} (unable to get local issuer certificate): pass --ca-file (or set "
        "OIDC_CA_BUNDLE) with the CA that signed the IdP's certificate (the demo's: "
        "certs/ca.pem)."
    )
    assert "certificate" not in stdout.getvalue() + stderr.getvalue()  # said once, not twice
    assert json.loads(kept.read_text())[f"{origins.issuer} x"] == grant  # nothing lost


def test_issuer_must_equal_the_discovered_one(origins):
    with pytest.raises(CommandError, match="discovery names issuer"):
        call_command(
            "pkce_client",
            "--client-id",
            "x",
            "--issuer",
            f"{origins.issuer}/",
            "--ca-file",
            origins.ca_file,
            stdout=StringIO(),
        )


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--interval", "0"),
        ("--interval", "soon"),
        ("--interval", "nan"),
        ("--max-refreshes", "-1"),
        ("--max-refreshes", "²"),
    ],
)
def test_bad_flag_values_are_refused(flag, value):
    with pytest.raises(CommandError, match=flag.lstrip("-")):
        call_command("pkce_client", flag, value, stdout=StringIO())


def test_remember_keeps_the_sign_in_status_shows_it_the_next_run_resumes_logout_revokes(
    origins, seed_client, end_user, monkeypatch, quick, tmp_path
):
    kept = tmp_path / "state" / "grants.json"
    store_flags = ["--store", str(kept)]
    out, _ = run_client(origins, monkeypatch, "--remember", *store_flags, "--max-refreshes", "1")
    assert "Sign-in kept in" in out and "revoked at" not in out
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    refresh_token = json.loads(kept.read_text())[f"{origins.issuer} test-cli"]["refresh_token"]

    status, _ = run_client(origins, monkeypatch, "--status", *store_flags)
    assert f"Issuer        {origins.issuer}" in status
    assert "Client id     test-cli" in status
    assert "User          user alice" in status
    assert "offline_access" in status
    assert refresh_token not in status and refresh_token[:6] not in status

    person = Person(StringIO(), origins)
    out, _ = run_client(
        origins, monkeypatch, "--remember", *store_flags, "--max-refreshes", "1", person=person
    )
    assert "Resumed without signing in" in out
    assert person.prompts == 0 and "Authorization code: " not in out
    assert "refresh 1:" in out
    resumed_token = json.loads(kept.read_text())[f"{origins.issuer} test-cli"]["refresh_token"]
    assert resumed_token != refresh_token  # rotated, and the rotated one kept

    out, _ = run_client(origins, monkeypatch, "--logout", *store_flags)
    assert "Signed out: refresh token revoked" in out
    assert json.loads(kept.read_text()) == {}
    answer = refresh_as_test_cli(origins, resumed_token)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    status, _ = run_client(origins, monkeypatch, "--status", *store_flags)
    assert "Nothing kept" in status


def test_without_remember_nothing_is_written(
    origins, seed_client, end_user, monkeypatch, quick, tmp_path
):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    run_client(origins, monkeypatch, "--max-refreshes", "0")
    assert list(tmp_path.iterdir()) == []


def test_a_store_file_others_can_read_is_refused_with_what_to_do(origins, tmp_path):
    kept = tmp_path / "grants.json"
    kept.write_text("{}")
    kept.chmod(0o644)
    with pytest.raises(CommandError, match="its mode is 0644"):
        call_command("pkce_client", *flows.client_flags(origins), "--status", "--store", str(kept))


def test_from_a_shell_an_expected_error_is_its_message_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    missing = tmp_path / "no-ca.pem"
    with pytest.raises(SystemExit) as ended:
        Command().run_from_argv(
            ["manage.py", "pkce_client", "--client-id", "x", "--ca-file", str(missing)]
        )
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"CA file {missing} not found.")
    assert "CommandError" not in err and "\x1b[" not in err


def test_with_remember_the_plan_says_stopping_keeps_the_sign_in(
    origins, seed_client, end_user, monkeypatch, quick, tmp_path
):
    store = ["--store", str(tmp_path / "g.json")]
    out, _ = run_client(origins, monkeypatch, "--remember", *store, "--max-refreshes", "1")
    assert "(Ctrl+C stops earlier and keeps the sign-in for the next run)" in out
    assert "revokes the refresh token" not in out


@pytest.fixture
def idp_behind_a_proxy(origins, settings):
    """The IdP reached through a TCP proxy that can stop it, as far as clients can tell: cut,
    connections are refused. The issuer and every endpoint are the proxy's address."""
    proxy = TcpProxy(urlsplit(origins.idp_url).port)
    url = f"https://localhost:{proxy.port}"
    settings.SITE_URL = url
    settings.OIDC_ISSUER = f"{url}/oidc"
    settings.CSRF_TRUSTED_ORIGINS = [url]
    yield dataclasses.replace(origins, idp_url=url), proxy
    proxy.close()


class Outage:
    """Command.sleep while the IdP is stopped at the first refresh for `lasts` seconds: the
    pauses are counted, not waited (the real backoff schedule), then the IdP comes back."""

    def __init__(self, proxy, lasts: float) -> None:
        self.proxy, self.lasts = proxy, lasts
        self.started = False
        self.waited = 0.0

    def sleep(self, seconds: float) -> None:
        if not self.started:  # the wait before the first refresh: the IdP stops now
            self.started = True
            self.proxy.cut()
            return
        if self.proxy.is_cut:
            self.waited += seconds
            if self.waited >= self.lasts:
                self.proxy.restore()


def test_an_idp_stopped_for_two_minutes_is_waited_out_with_a_line_per_retry(
    idp_behind_a_proxy, seed_client, end_user, monkeypatch, revoked
):
    origins, proxy = idp_behind_a_proxy
    outage = Outage(proxy, lasts=120)  # twice the minute after which the client gave up before
    monkeypatch.setattr(Command, "sleep", staticmethod(outage.sleep))
    out, err = run_client(origins, monkeypatch, "--interval", "0.01", "--max-refreshes", "2")
    assert not proxy.is_cut and outage.waited >= 120
    retries = re.findall(r"refresh failed \((.*)\); retry (\d+) in (\d+) s", err)
    assert [(number, delay) for _, number, delay in retries] == [
        ("1", "1"),
        ("2", "2"),
        ("3", "4"),
        ("4", "8"),
        ("5", "16"),
        ("6", "30"),
        ("7", "30"),
        ("8", "30"),
    ]  # backoff capped at 30 s
    # The proxy accepts and closes at once, as a load balancer with no IdP behind it does:
    # the handshake ends early, or (as timing falls) the socket is reset under it.
    closed = f"cannot connect to {origins.idp_url}: the connection closed during the TLS handshake"
    reset = f"cannot connect to {origins.idp_url}: Connection reset by peer"
    assert {reason for reason, _, _ in retries[1:]} <= {closed, reset}
    assert closed in {reason for reason, _, _ in retries}
    assert retries[0][0].startswith(f"cannot connect to {origins.idp_url}: ")
    assert "refresh 1: access token" in out and "refresh 2: access token" in out
    assert "Done: 2 refreshes" in out
    assert_revoked_or_noted(out, origins, revoked)


@pytest.mark.parametrize("remember", [False, True], ids=["revoking", "remember"])
def test_giving_up_on_a_stopped_idp_says_the_sign_in_is_still_valid_and_what_to_do(
    idp_behind_a_proxy, seed_client, end_user, monkeypatch, tmp_path, remember
):
    origins, proxy = idp_behind_a_proxy
    monkeypatch.setattr(Command, "sleep", staticmethod(Outage(proxy, lasts=3600).sleep))
    kept = tmp_path / "grants.json"
    flags = ["--remember", "--store", str(kept)] if remember else []
    with pytest.raises(CommandError) as failure:
        run_client(origins, monkeypatch, "--interval", "0.01", *flags)
    message = str(failure.value)
    assert message.startswith("Gave up waiting for the IdP: refresh still failing after 14 ")
    if remember:
        assert f"most likely still valid and is kept in {kept}" in message
        assert "run the client again with --remember once the IdP is back" in message
        assert json.loads(kept.read_text())[f"{origins.issuer} test-cli"]["refresh_token"]
    else:
        assert "could not be revoked, so it stays valid at the IdP until it expires" in message
        assert "Sign in again once the IdP is back" in message
    assert client_tokens().exists()  # true: the IdP still holds the grant


def test_a_second_ctrl_c_while_revoking_says_the_token_may_still_be_valid(
    origins, seed_client, end_user, monkeypatch, quick
):
    def interrupted_loop(seconds):
        raise KeyboardInterrupt  # the first Ctrl+C, while waiting to refresh

    being_revoked = []

    def interrupted_revoke(*args, token, **kwargs):
        being_revoked.append(token)
        raise KeyboardInterrupt  # the second, before the IdP answered

    monkeypatch.setattr(Command, "sleep", staticmethod(interrupted_loop))
    monkeypatch.setattr(oidc, "revoke", interrupted_revoke)
    # Bearer tokens: the check below refreshes without the client's DPoP key.
    out, err = run_client(origins, monkeypatch, "--interval", "0.01", "--no-dpop")
    assert "Stopping (SIGINT)." in out and "revoked at" not in out
    assert "Interrupted again while revoking" in err and "may still be valid" in err
    # And it is: the IdP still accepts the refresh token the client was revoking.
    assert refresh_as_test_cli(origins, being_revoked[-1]).status_code == 200


def test_a_tls_failure_while_refreshing_is_said_once_and_nothing_pretends_to_revoke(
    origins, seed_client, end_user, monkeypatch, quick, tmp_path
):
    other, _ = certs.ensure_certificates(Path(tmp_path))
    real_refresh = oidc.refresh

    def with_another_ca(http, *args, **kwargs):  # as if the IdP's certificate changed
        http.verify = str(other.ca_cert)
        return real_refresh(http, *args, **kwargs)

    monkeypatch.setattr(oidc, "refresh", with_another_ca)
    stdout, stderr = StringIO(), StringIO()
    monkeypatch.setattr(Command, "read_line", staticmethod(Person(stdout, origins).readline))
    with pytest.raises(CommandError) as failure:
        call_command(
            "pkce_client",
            *flows.client_flags(origins),
            "--interval",
            "0.01",
            stdout=stdout,
            stderr=stderr,
        )
    said = str(failure.value)
    assert said.startswith(f"The IdP's certificate at {origins.idp_url} is not trusted")
    assert said.endswith(
        "The refresh token was not revoked: it stays valid at the IdP until it expires."
    )
    assert "certificate" not in stdout.getvalue() + stderr.getvalue()  # said once
    assert client_tokens().exists()  # true: nothing was revoked
