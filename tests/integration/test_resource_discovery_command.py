"""pkce_client --resource --remember: one registration, kept and reused; --logout drops it."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from apps.client.management.commands.pkce_client import Command
from apps.idp import services
from apps.idp.models import RegisteredClient
from tests.conftest import END_USER_PASSWORD
from tests.flows import LoopbackBrowser

pytestmark = pytest.mark.integration

SECRET = "resource-server-command-secret"


def run(origins, api: str, store, *flags: str) -> str:
    stdout = StringIO()
    call_command(
        "pkce_client",
        "--resource", api,
        "--redirect-uri", origins.receiver_url,
        "--ca-file", origins.ca_file,
        "--store", str(store),
        *flags,
        stdout=stdout,
        stderr=StringIO(),
    )  # fmt: skip
    return stdout.getvalue()


def test_the_registration_is_kept_reused_and_dropped_by_logout(
    origins, end_user, settings, monkeypatch, tmp_path
):
    api = f"{origins.receiver_url}api/profile"
    settings.OIDC_CA_BUNDLE = origins.ca_file
    settings.RESOURCE_SERVER_SECRET = SECRET
    settings.RESOURCE_SERVER_CACHE_SECONDS = 0
    services.seed_resource_server(
        settings.RESOURCE_SERVER_CLIENT_ID, secret=SECRET, audiences=(api,)
    )
    browser = LoopbackBrowser(origins, END_USER_PASSWORD)
    monkeypatch.setattr(Command, "open_url", staticmethod(browser))
    monkeypatch.setattr(Command, "sleep", staticmethod(lambda seconds: None))
    store = tmp_path / "grants.json"
    once = ("--remember", "--max-refreshes", "1", "--interval", "0.01")

    first = run(origins, api, store, "--loopback", "--timeout", "30", *once)
    if browser.thread:
        browser.thread.join(10)
    client_id = re.search(r"Registered +as client (\S+) \(RFC 7591; kept in", first).group(1)
    assert f"client={client_id} (" in first.split("resource OK: ", 1)[1]

    second = run(origins, api, store, *once)  # resumes: no browser, no new registration
    assert f"Registered    as client {client_id} before" in second
    assert "Resumed without signing in" in second
    assert f"client={client_id} (" in second.split("resource OK: ", 1)[1]
    assert RegisteredClient.objects.count() == 1

    out = run(origins, api, store, "--logout")
    assert "Signed out: refresh token revoked" in out
    assert f"Client {client_id} deregistered at the IdP (RFC 7592)." in out
    assert not RegisteredClient.objects.exists()
    assert "registration" not in store.read_text()
