"""The seed document's "Configure a Public OIDC Client", steps 1 to 8, done in chromium.

A superuser signs in to /admin, opens OpenID Connect Provider > Clients > Add, and fills the
form as the document says, HS256 included: the admin refuses HS256 for a public client and
says why. With RS256 the client is saved and its client id shown.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from django.db import connections
from oidc_provider.models import RESPONSE_TYPE_CHOICES, ResponseType
from oidc_provider.models import Client as OIDCClient
from playwright.sync_api import Page, expect

from tests.integration.conftest import VIEWPORT, chromium_page

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ADMIN_PASSWORD = "admin walkthrough password 42"
CLIENT_NAME = "My CLI"
T = TypeVar("T")


def off_the_event_loop(query: Callable[[], T]) -> T:
    """Run an ORM query in a thread: Django refuses it in Playwright's event-loop thread."""

    def run() -> T:
        try:
            return query()
        finally:
            connections.close_all()  # the thread's own connection, before the thread ends

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def saved_client() -> OIDCClient | None:
    client = OIDCClient.objects.filter(name=CLIENT_NAME).first()
    if client is not None:
        client.response_type_values = [rt.value for rt in client.response_types.all()]
    return client


@pytest.fixture
def admin_page(origins, django_user_model, chromium_home) -> Iterator[Page]:
    """chromium, trusting the test CA, and a superuser as `createsuperuser` makes one."""
    django_user_model.objects.create_superuser("root", "root@example.com", ADMIN_PASSWORD)
    for value, description in RESPONSE_TYPE_CHOICES:  # as migrate left them; flushed since
        ResponseType.objects.get_or_create(value=value, defaults={"description": description})
    with chromium_page(chromium_home) as page:
        yield page


def test_the_seeds_public_client_steps_in_the_admin(origins, admin_page, docs_screenshot):
    page = admin_page
    receiver = origins.receiver_url  # https://<receiver>/, with the trailing slash
    page.goto(f"{origins.idp_url}/admin")
    page.fill("#id_username", "root")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # 1. Under OpenID Connect Provider, Clients, then add a client.
    section = page.locator(".module", has=page.get_by_role("caption")).filter(
        has_text="OpenID Connect Provider"
    )
    section.get_by_role("link", name="Clients", exact=True).click()
    page.get_by_role("link", name="Add client").click()
    # 2 to 7, as the document says, HS256 included.
    page.fill("#id_name", CLIENT_NAME)
    page.select_option("#id_client_type", "public")
    page.get_by_label("Response Types").select_option(label="code (Authorization Code Flow)")
    page.fill("#id__redirect_uris", receiver)
    page.select_option("#id_jwt_alg", "HS256")
    page.set_checked("#id_require_consent", True)
    page.set_checked("#id_reuse_consent", False)
    # 8. Save: refused, and the form says why.
    page.get_by_role("button", name="Save", exact=True).click()
    error = page.locator(".field-jwt_alg .errorlist")
    expect(error).to_contain_text("a public client has none")
    expect(error).to_contain_text("Use RS256 for public clients.")
    error.scroll_into_view_if_needed()
    docs_screenshot(page, "admin-client-hs256-refused")
    assert off_the_event_loop(saved_client) is None

    # RS256 instead (the README's step 5): saved, with a generated client id.
    page.select_option("#id_jwt_alg", "RS256")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    client = off_the_event_loop(saved_client)
    assert client is not None
    assert client.client_type == "public"
    assert client.jwt_alg == "RS256"
    assert client.redirect_uris == [receiver]
    assert client.require_consent and not client.reuse_consent
    assert client.response_type_values == ["code"]
    assert len(client.client_id) >= 6
    row = page.get_by_role("row").filter(has_text=CLIENT_NAME)
    expect(row).to_contain_text(client.client_id)  # the list shows the id to copy

    # The saved client's page: the settings above, and the client id under Credentials.
    row.get_by_role("link", name=CLIENT_NAME).click()
    expect(page.locator("#id_client_id")).to_have_value(client.client_id)
    page.locator("#toggle-nav-sidebar").click()  # the form's full width, as in the seed's picture
    expect(page.locator("#nav-sidebar")).to_be_hidden()
    settings_box = page.locator("#client_form fieldset").nth(0).bounding_box()
    credentials_box = page.locator("#client_form fieldset").nth(1).bounding_box()
    top = settings_box["y"] - 8
    docs_screenshot(
        page,
        "admin-client-form",
        clip={
            "x": 0,
            "y": top,
            "width": VIEWPORT["width"],
            "height": credentials_box["y"] + credentials_box["height"] - top + 8,
        },
    )
