"""A person, in Debian's chromium, revokes an application's access on /account/grants/."""

import pytest

from tests.conftest import END_USER_PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def tokens(sign_in) -> dict:
    """A sign-in through the code flow: the grant the person will revoke."""
    return sign_in()


def test_a_person_revokes_an_application_from_the_home_page(
    page,
    origins,
    https,
    seed_client,
    end_user,
    tokens,
    refresh,
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
    refreshed = refresh(tokens["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"
