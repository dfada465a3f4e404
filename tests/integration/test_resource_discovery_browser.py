"""From nothing but the API's address to a 200 from it: pkce_client --resource, in chromium.

The command knows only https://<receiver>/api/profile. It finds the IdP through the API's
401 and metadata, registers itself, and the person signs in and consents in a real browser
(whose consent page says the application registered itself), which hands the code back to
the command's loopback receiver; the command then calls the API with a token for it alone.
"""

import queue
import re
import threading
from io import StringIO

import pytest
from django.core.management import call_command

from apps.client.management.commands.pkce_client import Command
from apps.idp import services
from apps.idp.models import RegisteredClient
from tests.conftest import END_USER_PASSWORD
from tests.integration.conftest import WAIT_SECONDS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SECRET = "resource-server-browser-secret"


@pytest.fixture
def api(origins, settings) -> str:
    """The receiver's API and its introspecting client (stored before the browser starts:
    Playwright's event loop then runs in this thread, where Django refuses ORM queries)."""
    api = f"{origins.receiver_url}api/profile"
    settings.OIDC_CA_BUNDLE = origins.ca_file
    settings.RESOURCE_SERVER_SECRET = SECRET
    settings.RESOURCE_SERVER_CACHE_SECONDS = 0
    services.seed_resource_server(
        settings.RESOURCE_SERVER_CLIENT_ID, secret=SECRET, audiences=(api,)
    )
    return api


def in_a_thread(query):
    found = []
    worker = threading.Thread(target=lambda: found.append(query()))
    worker.start()
    worker.join(WAIT_SECONDS)
    return found[0]


def test_the_api_address_is_enough_to_sign_in_and_call_it(
    api, page, origins, end_user, monkeypatch
):
    urls: queue.Queue[str] = queue.Queue()
    monkeypatch.setattr(Command, "open_url", staticmethod(lambda url: urls.put(url) or True))
    monkeypatch.setattr(Command, "sleep", staticmethod(lambda seconds: None))
    stdout, stderr, failures = StringIO(), StringIO(), []

    def run() -> None:
        try:
            call_command(
                "pkce_client",
                "--resource", api,
                "--redirect-uri", origins.receiver_url,
                "--ca-file", origins.ca_file,
                "--loopback",
                "--timeout", str(WAIT_SECONDS),
                "--max-refreshes", "1",
                "--interval", "0.01",
                stdout=stdout,
                stderr=stderr,
            )  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 -- reported by the assertion below
            failures.append(exc)

    command = threading.Thread(target=run, daemon=True)
    command.start()
    try:
        page.goto(urls.get(timeout=WAIT_SECONDS))
        page.fill("#id_username", end_user.username)
        page.fill("#id_password", END_USER_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#self-registered")
        assert "Not verified" in page.inner_text("#self-registered")
        assert page.inner_text("#resource") == api
        page.get_by_role("button", name="Allow").click()
        page.wait_for_load_state()
    finally:
        command.join(WAIT_SECONDS)
    out = stdout.getvalue()
    assert not failures, (failures, out, stderr.getvalue())
    steps = [
        rf"API +{re.escape(api)} answered 401: its metadata is at https://\S+/api/profile",
        r"Resource +\S+ \(RFC 9728 metadata OK\)",
        rf"Auth server +{re.escape(origins.issuer)} \(RFC 8414 metadata",
        r"Registered +as client \S+ \(RFC 7591",
        r"resource OK: sub=\S+ scope=openid .* client=\S+ \((?:DPoP|Bearer)\)",
        r"refresh 1:",
    ]
    for step in steps:
        assert re.search(step, out), (step, out)
    # Not remembered: the registration is gone again at the IdP.
    assert "deregistered at the IdP" in out
    assert not in_a_thread(RegisteredClient.objects.exists)
