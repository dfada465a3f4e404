"""A person, in Debian's chromium, approves a device's sign-in at /device (RFC 8628 §3.3)."""

import pytest

from tests.conftest import END_USER_PASSWORD
from tests.integration import test_device_flow

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_a_person_enters_the_code_consents_and_the_device_gets_tokens(
    page, origins, https, seed_client, end_user, settings
):
    settings.OIDC_DEVICE_POLL_INTERVAL = 1
    started = test_device_flow.start(https, origins, seed_client.client_id)

    page.goto(started["verification_uri"])  # the address the terminal shows
    page.fill("#id_username", end_user.username)  # the page asks who you are first
    page.fill("#id_password", END_USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Connect a device")
    page.fill("#id_user_code", started["user_code"].lower())  # as people type it
    page.get_by_role("button", name="Continue").click()

    page.wait_for_selector(".client-name")
    assert page.inner_text(".client-name") == seed_client.name
    listed = page.inner_text("ul.scopes")
    for described in ("Your identity", "Your name", "Email address", "Stay connected"):
        assert described in listed
    page.get_by_role("button", name="Allow").click()
    page.wait_for_selector("text=your device is signed in")

    tokens = test_device_flow.poll(https, origins, seed_client.client_id, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= tokens.json().keys()


def test_the_complete_uri_fills_the_code_in(page, origins, https, seed_client, end_user):
    started = test_device_flow.start(https, origins, seed_client.client_id)
    page.goto(started["verification_uri_complete"])
    page.fill("#id_username", end_user.username)
    page.fill("#id_password", END_USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#id_user_code")
    assert page.input_value("#id_user_code") == started["user_code"]
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Deny").click()
    page.wait_for_selector("text=Access denied")
    denied = test_device_flow.poll(https, origins, seed_client.client_id, started["device_code"])
    assert denied.json()["error"] == "access_denied"
