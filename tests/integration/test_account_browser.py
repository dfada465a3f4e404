"""A person, in Debian's chromium, revokes an application's access on /account/grants/."""

import pytest

from tests import flows
from tests.conftest import END_USER_PASSWORD
from tests.integration import test_browser_flow

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# Chromium trusting the test CA, and a fresh page in it: the browser flow's fixtures.
chromium_home = test_browser_flow.chromium_home
page = test_browser_flow.page


@pytest.fixture
def tokens(origins, https, seed_client, end_user) -> dict:
    """A sign-in through the code flow: the grant the person will revoke."""
    return flows.sign_in_for_tokens(
        https,
        origins.idp_url,
        client_id=seed_client.client_id,
        redirect_uri=origins.receiver_url,
        username=end_user.username,
        password=END_USER_PASSWORD,
    )


def test_a_person_revokes_an_application_from_the_home_page(
    page,
    origins,
    https,
    seed_client,
    end_user,
    tokens,  # noqa: F811
):
    page.goto(f"{origins.idp_url}/")
    page.get_by_role("link", name="Your applications").click()
    page.fill("#id_username", end_user.username)  # the page asks who you are first
    page.fill("#id_password", END_USER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Applications you allowed")
    assert seed_client.name in page.content()
    page.get_by_role("button", name=f"Revoke {seed_client.name}").click()
    page.wait_for_selector("text=Access revoked")
    assert "No application has access to your account." in page.content()
    refreshed = flows.refresh(
        https,
        origins.idp_url,
        refresh_token=tokens["refresh_token"],
        client_id=seed_client.client_id,
    )
    assert refreshed.json()["error"] == "invalid_grant"
