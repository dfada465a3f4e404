"""/account/grants/: a person sees the applications they allowed and can take access back."""

import pytest
from django.test import Client as DjangoClient

from apps.idp import policy, services
from apps.idp.models import Grant
from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = pytest.mark.integration


def signed_in_grant(origins, https, seed_client, username: str) -> dict:
    return flows.sign_in_for_tokens(
        https,
        origins.idp_url,
        client_id=seed_client.client_id,
        redirect_uri=origins.receiver_url,
        username=username,
        password=END_USER_PASSWORD,
    )


@pytest.fixture
def idp(origins) -> dict:
    host = origins.idp_url.removeprefix("https://")
    return {"HTTP_HOST": host, "secure": True}


def test_the_page_needs_a_signed_in_person(idp, client):
    answer = client.get("/account/grants/", **idp)
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_a_person_sees_only_their_own_grants(origins, https, seed_client, end_user, idp, client):
    signed_in_grant(origins, https, seed_client, end_user.username)
    other = services.seed_public_client(
        "other-cli", name="Another application", redirect_uri=origins.receiver_url
    )
    bob = type(end_user).objects.create_user(username="bob", password=END_USER_PASSWORD)
    with https.__class__() as bobs_browser:
        bobs_browser.trust_env, bobs_browser.verify = False, origins.ca_file
        signed_in_grant(origins, bobs_browser, other, bob.username)
    client.force_login(end_user)
    page = client.get("/account/grants/", **idp)
    assert page.status_code == 200
    assert seed_client.name in page.text and other.name not in page.text
    assert "openid profile email offline_access" in page.text


def test_revoking_stops_the_refresh_token_at_once(origins, https, seed_client, end_user, idp):
    tokens = signed_in_grant(origins, https, seed_client, end_user.username)
    grant = Grant.objects.get(family=policy.refresh_token_family(tokens["refresh_token"]))
    browser = DjangoClient(enforce_csrf_checks=True)
    browser.force_login(end_user)
    without_csrf = browser.post(f"/account/grants/{grant.pk}/revoke", **idp)
    assert without_csrf.status_code == 403
    page = browser.get("/account/grants/", **idp)
    action, fields = flows.form_inputs(page.text)  # the first grant's Revoke form
    assert action == f"/account/grants/{grant.pk}/revoke"
    referer = f"{origins.idp_url}/account/grants/"
    revoked = browser.post(action, fields, follow=True, HTTP_REFERER=referer, **idp)
    assert "Access revoked" in revoked.text and seed_client.name not in revoked.text
    refreshed = flows.refresh(
        https,
        origins.idp_url,
        refresh_token=tokens["refresh_token"],
        client_id=seed_client.client_id,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_another_persons_grant_cannot_be_revoked(origins, https, seed_client, end_user, idp):
    tokens = signed_in_grant(origins, https, seed_client, end_user.username)
    grant = Grant.objects.get(family=policy.refresh_token_family(tokens["refresh_token"]))
    mallory = type(end_user).objects.create_user(username="mallory", password="x" * 20)
    browser = DjangoClient()
    browser.force_login(mallory)
    answer = browser.post(f"/account/grants/{grant.pk}/revoke", follow=True, **idp)
    assert "not one of yours" in answer.text
    grant.refresh_from_db()
    assert grant.revoked_at is None
