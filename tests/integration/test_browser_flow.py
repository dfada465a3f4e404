"""Each way to sign in as a person runs it: `pkce_client` in a terminal, Debian's chromium for
the rest: paste (the seed's flow), `--loopback --no-browser` and `--device`.

Real TLS all the way: chromium trusts the test CA through a throwaway NSS database (the
way a person imports a CA), not through any switch that turns certificate checks off.
The client runs as a subprocess and is driven through its stdin and stdout only.
"""

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

from tests import flows
from tests.conftest import END_USER_PASSWORD
from tests.integration.conftest import CHROMIUM, CHROMIUM_ARGS, WAIT_SECONDS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
AUTHORIZATION_URL = re.compile(r"^  (https://\S+/authorize\?\S+)$", re.MULTILINE)


class Screenshots:
    """Pages seen along the way, written to test-artifacts/ only when the test fails."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.taken: list[tuple[str, bytes]] = []

    def take(self, name: str) -> None:
        self.taken.append((name, self.page.screenshot(full_page=True)))

    def save(self, test_name: str) -> Path:
        folder = ARTIFACTS / test_name
        folder.mkdir(parents=True, exist_ok=True)
        for number, (name, image) in enumerate(self.taken, start=1):
            (folder / f"{number}-{name}.png").write_bytes(image)
        return folder


@pytest.fixture
def screenshots(page, request) -> Iterator[Screenshots]:
    shots = Screenshots(page)
    failed_before = request.session.testsfailed
    yield shots
    if request.session.testsfailed > failed_before:  # this test's call phase failed
        shots.save(request.node.name)


class Client:
    """`manage.py pkce_client` in a subprocess, read line by line as a person reads a terminal."""

    def __init__(self, origins, *args: str) -> None:
        self.process = flows.start_pkce_client(origins, *args)
        self.output = ""
        self._ended = False
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output

    def _read_line(self, timeout: float) -> None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return
        if line is None:
            self._ended = True
        else:
            self.output += line

    def wait_for(self, pattern: str, timeout: float = WAIT_SECONDS) -> re.Match:
        """Read output until `pattern` (a regex) appears; fail with what was read so far."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.output, re.MULTILINE)):
            if self._ended or time.monotonic() > deadline:
                pytest.fail(f"client never printed {pattern!r}; it printed:\n{self.output}")
            self._read_line(timeout=0.2)
        return found

    def authorization_url(self) -> str:
        return self.wait_for(AUTHORIZATION_URL.pattern).group(1)

    def type(self, text: str) -> None:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = WAIT_SECONDS) -> int:
        """Exit code, once the process ended and all its output was read."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"client did not exit; it printed:\n{self.output}")
        deadline = time.monotonic() + 5
        while not self._ended and time.monotonic() < deadline:
            self._read_line(timeout=0.2)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@contextmanager
def client_process(origins, *args: str) -> Iterator[Client]:
    client = Client(origins, *args)
    try:
        yield client
    finally:
        client.stop()


def sign_in_and_answer(
    page: Page,
    shots: Screenshots,
    url: str,
    *,
    allow: bool = True,
    docs_screenshot=None,
    lands_on: str = "#code, #error",
) -> None:
    """What a person does in the browser: sign in, read the consent page, click; then wait
    for the page the redirect lands on (`lands_on`: the receiver's, by default).

    With `docs_screenshot`, the README's pictures of the three pages are taken on the way.
    """
    page.goto(url)
    page.wait_for_selector("#id_username")
    shots.take("login")
    page.fill("#id_username", "alice")
    page.fill("#id_password", END_USER_PASSWORD)
    if docs_screenshot:
        docs_screenshot(page, "sign-in")
    page.click("button[type=submit]")
    page.wait_for_selector("button[name=allow]")
    shots.take("consent")
    if docs_screenshot:
        docs_screenshot(page, "consent")
    assert "PKCE command-line client" in page.inner_text("h1")
    if allow:
        page.click("button[name=allow]")
    else:
        page.get_by_role("button", name="Deny").click()
    page.wait_for_selector(lands_on)
    shots.take("receiver")
    if docs_screenshot:
        docs_screenshot(page, "receiver")


def test_chromium_without_the_test_ca_refuses_the_idp(origins, tmp_path):
    """The control: the other tests pass because of the NSS database, not lax TLS."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(tmp_path)}
        )
        try:
            with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
                browser.new_page().goto(f"{origins.issuer}/.well-known/openid-configuration")
        finally:
            browser.close()


def test_sign_in_in_chromium_then_two_refreshes_with_rotation(
    origins, page, screenshots, docs_screenshot
):
    with client_process(origins, "--interval", "1", "--max-refreshes", "2") as client:
        url = client.authorization_url()
        sign_in_and_answer(page, screenshots, url, docs_screenshot=docs_screenshot)
        assert page.url.startswith(origins.receiver_url)
        code = page.inner_text("#code").strip()  # read off the page, as a person would
        client.type(code)
        assert client.finish() == 0
    out = client.output
    assert "a bare code: state and iss cannot be checked" in out
    assert "Tokens received: access token" in out
    assert "ID token valid: RS256 signature" in out
    assert re.search(r"^  sub\s+\S+$", out, re.MULTILINE)
    assert re.search(r"^  name\s+Alice Liddell$", out, re.MULTILINE)
    assert re.search(r"^  email\s+alice@example.com$", out, re.MULTILINE)
    assert re.search(r"^  preferred_username\s+alice$", out, re.MULTILINE)
    rotations = re.findall(r"refresh (\d): access token \S+ expires .*; refresh token (\w+)", out)
    assert rotations == [("1", "rotated"), ("2", "rotated")]
    assert "Done: 2 refreshes" in out
    assert "revoked at" in out or "the IdP offers no revocation endpoint" in out
    assert code not in out  # the code is shown by its prefix only


def test_ctrl_c_during_the_refresh_loop_ends_cleanly(origins, page, screenshots):
    with client_process(origins, "--interval", "1") as client:
        sign_in_and_answer(page, screenshots, client.authorization_url())
        client.type(page.url)  # the whole receiver URL: state is checked too
        client.wait_for(r"refresh 1: access token .*refresh token rotated")
        client.process.send_signal(signal.SIGINT)
        assert client.finish() == 0
    out = client.output
    assert re.search(r"accepted \(state (and iss )?checked\)", out)
    assert "Stopping (SIGINT)." in out
    # SIGINT was sent right after the first refresh; on a slow machine a second may finish
    assert re.search(r"^Done: [12] refresh(es)?, alive \d+s\.$", out, re.MULTILINE)
    assert re.search(r"Refresh token \S+ revoked at https://\S+ \(RFC 7009\)", out) or (
        "Note: the IdP offers no revocation endpoint" in out
    )
    assert "Traceback" not in out


def test_denied_consent_is_reported_as_access_denied(origins, page, screenshots):
    with client_process(origins) as client:
        sign_in_and_answer(page, screenshots, client.authorization_url(), allow=False)
        assert page.inner_text("#error") == "access_denied"
        client.type(page.url)  # the error page has no code: paste its address
        assert client.finish() == 1
    assert re.search(r"Sign-in did not complete: .* access_denied", client.output)
    assert "Deny was chosen on the consent page" in client.output
    assert "Traceback" not in client.output


def test_a_response_from_another_sign_in_is_caught_as_state_mismatch(origins, page, screenshots):
    with client_process(origins) as waiting, client_process(origins) as other:
        waiting.authorization_url()
        sign_in_and_answer(page, screenshots, other.authorization_url())
        waiting.type(page.url)  # pasted into the wrong terminal
        waiting.wait_for(r"State mismatch.*Try again")  # refused, and asked again
        waiting.process.stdin.close()  # Ctrl+D: no second try
        assert waiting.finish() == 1
        other.process.send_signal(signal.SIGINT)  # Ctrl+C before any token: 130
        assert other.finish() == 130
    assert "State mismatch: that response belongs to a different sign-in" in waiting.output
    assert "Tokens received" not in waiting.output
    assert "Stopped before sign-in finished" in other.output
    assert "Traceback" not in waiting.output + other.output


def test_loopback_chromium_comes_back_to_the_client_which_signs_in_and_refreshes(
    origins, page, screenshots
):
    flags = ("--loopback", "--no-browser", "--interval", "1", "--max-refreshes", "1")
    with client_process(origins, *flags) as client:
        url = client.authorization_url()
        callback = client.wait_for(r"Waiting for the browser at (http://127\.0\.0\.1:\d+/callback)")
        # A stray request (another tab, an old link) is refused and the client keeps waiting.
        page.goto(f"{callback.group(1)}?code=stray&state=not-this-one")
        assert "Refused" in page.inner_text("h1")
        assert "The command line keeps waiting" in page.inner_text("body")
        client.wait_for(r"Refused a browser request .*; still waiting")
        sign_in_and_answer(page, screenshots, url, lands_on="text=You may close this tab")
        assert page.url.startswith(f"{callback.group(1)}?")  # our own page, from the client
        assert page.inner_text("h1") == "Signed in"
        assert client.finish() == 0
    out = client.output
    assert re.search(r"^Redirect URI  http://127\.0\.0\.1:\d+/callback$", out, re.MULTILINE)
    assert re.search(r"Code \S+ received \(state (and iss )?checked\)", out)
    assert "Authorization code: " not in out  # nothing to paste
    assert "ID token valid: RS256 signature" in out
    assert re.search(r"^  preferred_username\s+alice$", out, re.MULTILINE)
    assert "refresh 1: access token" in out and "Done: 1 refresh" in out
    assert re.search(r"Refresh token \S+ revoked at https://\S+ \(RFC 7009\)", out)
    assert "Traceback" not in out


DEVICE_ADDRESS = r"^  (https://\S+/device\?user_code=\S+)$"


def test_device_chromium_enters_the_code_consents_and_the_client_polls_its_tokens(
    origins, page, screenshots, settings
):
    settings.OIDC_DEVICE_POLL_INTERVAL = 1  # the IdP runs in this process: a quick poll
    with client_process(origins, "--device", "--interval", "1", "--max-refreshes", "1") as client:
        user_code = client.wait_for(r"enter the code  (\S+)$").group(1)
        address = client.wait_for(DEVICE_ADDRESS).group(1)  # verification_uri_complete
        client.wait_for(r"Waiting for you to allow access")  # polling, pending
        page.goto(address)
        page.fill("#id_username", "alice")  # the page asks who you are first
        page.fill("#id_password", END_USER_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#id_user_code")
        assert page.input_value("#id_user_code") == user_code  # filled in from the address
        screenshots.take("device-code")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_selector(".client-name")
        assert page.inner_text(".client-name") == "PKCE command-line client"
        screenshots.take("device-consent")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_selector("text=your device is signed in")
        assert client.finish() == 0
    out = client.output
    assert re.search(r"^  https://\S+/device$", out, re.MULTILINE)  # verification_uri
    assert "Redirect URI" not in out  # the device grant has none
    assert "Tokens received: access token" in out
    checked = client.wait_for(r"^ID token valid: RS256 signature .*; (.*) checked").group(1)
    assert "nonce" not in checked  # RFC 8628 sends none: nothing to claim was checked
    assert "refresh 1: access token" in out and "Done: 1 refresh" in out
    assert re.search(r"Refresh token \S+ revoked at https://\S+ \(RFC 7009\)", out)
    assert "Traceback" not in out
