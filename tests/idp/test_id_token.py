"""apps/idp/id_token.py: the claims django-oidc-provider's create_id_token makes, for the same
inputs and the same settings, hooks included."""

import datetime

import pytest
from django.utils import timezone
from oidc_provider.lib.utils.token import create_id_token, create_token

from apps.idp import id_token

pytestmark = pytest.mark.django_db

NOW = 1_800_000_000


def subject_is_the_username(user) -> str:
    return f"user-{user.username}"


def adds_a_claim(id_token: dict, user, token, request, **kwargs) -> dict:
    return {**id_token, "hooked": [user.username, token.client.client_id, request]}


def adds_another(id_token: dict, **kwargs) -> dict:
    return {**id_token, "second": True}


@pytest.fixture
def issued(public_client, person, monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW + 0.75)
    person.last_login = timezone.now() - datetime.timedelta(minutes=3)
    person.save()
    token = create_token(user=person, client=public_client, scope=["openid", "email", "profile"])
    return token


def both(token, nonce: str | None = "n-0S6_WzA2Mj", request=None) -> tuple[dict, dict]:
    library = create_id_token(
        token=token,
        user=token.user,
        aud=token.client.client_id,
        nonce=nonce,
        at_hash=token.at_hash,
        request=request,
        scope=token.scope,
    )
    ours = id_token.claims(
        token, token.user, token.client.client_id, nonce, token.at_hash, request=request
    )
    return library, ours


def test_the_claims_are_the_librarys_with_this_projects_settings(issued, settings):
    library, ours = both(issued)
    assert ours == library
    assert ours["iss"] == settings.OIDC_ISSUER
    assert ours["iat"] == NOW and ours["exp"] == NOW + settings.OIDC_IDTOKEN_EXPIRE
    assert ours["auth_time"] == int(issued.user.last_login.timestamp())
    assert ours["sub"] == str(issued.user.pk) and ours["nonce"] == "n-0S6_WzA2Mj"


def test_without_a_nonce_or_a_sign_in_yet_the_claims_are_still_the_librarys(issued):
    issued.user.last_login = None  # auth_time falls back to when the account was made
    library, ours = both(issued, nonce=None)
    assert ours == library and "nonce" not in ours
    assert ours["auth_time"] == int(issued.user.date_joined.timestamp())


def test_the_librarys_settings_and_hooks_shape_the_claims_as_they_shape_its_own(issued, settings):
    settings.OIDC_IDTOKEN_EXPIRE = None  # the library's default, ten minutes
    settings.OIDC_IDTOKEN_SUB_GENERATOR = f"{__name__}.subject_is_the_username"
    settings.OIDC_IDTOKEN_INCLUDE_CLAIMS = True
    settings.OIDC_IDTOKEN_PROCESSING_HOOK = (f"{__name__}.adds_a_claim", f"{__name__}.adds_another")

    library, ours = both(issued, request="the request")

    assert ours == library
    assert ours["exp"] - ours["iat"] == 600
    assert ours["sub"] == "user-bob" and ours["email"] == "bob@example.com"
    assert ours["hooked"] == ["bob", issued.client.client_id, "the request"]
    assert ours["second"] is True
