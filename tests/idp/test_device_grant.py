"""The device authorization grant (RFC 8628): user codes, the /device page, polling."""

import datetime
import re

import jwt
import pytest
from django.utils import timezone
from oidc_provider.models import Token

from apps.idp import policy, rfc8628, services
from apps.idp.models import DeviceAuthorization, Grant, IssuedToken, WrongUserCode
from tests.idp.oauth import CLIENT_ID, oauth_error, refresh, token

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ISSUER = "https://idp.local:8443/oidc"


# --- pure rules


def test_user_codes_use_rfc_8628_alphabet_and_eight_characters():
    codes = {rfc8628.new_user_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch("[BCDFGHJKLMNPQRSTVWXZ]{8}", code)
    assert rfc8628.display_user_code("WDJBMJHT") == "WDJB-MJHT"


@pytest.mark.parametrize(
    "typed", ["WDJB-MJHT", "wdjb-mjht", " wdjb mjht ", "WDJBMJHT", "Wd-Jb-MjHt"]
)
def test_typed_user_codes_ignore_case_dashes_and_spaces(typed):
    assert rfc8628.normalize_user_code(typed) == "WDJBMJHT"


@pytest.mark.parametrize(
    "typed", ["", "WDJB-MJH", "WDJB-MJHTX", "AEIO-UBCD", "WDJB-MJH1", "WDJB_MJHT"]
)
def test_what_cannot_be_a_user_code_is_refused(typed):
    assert rfc8628.normalize_user_code(typed) is None


def test_device_codes_are_long_and_random():
    first, second = rfc8628.new_device_code(), rfc8628.new_device_code()
    assert first != second and len(first) >= 43 and policy.is_opaque_value(first)


def test_polling_before_the_interval_is_too_fast():
    now = datetime.datetime(2026, 12, 1, 12, 0, 0)
    assert not rfc8628.polled_too_fast(None, now, 5)
    assert rfc8628.polled_too_fast(now - datetime.timedelta(seconds=4.9), now, 5)
    assert not rfc8628.polled_too_fast(now - datetime.timedelta(seconds=5), now, 5)


def test_wrong_user_codes_lock_out_at_the_limit():
    assert not rfc8628.too_many_wrong_user_codes(4, 5)
    assert rfc8628.too_many_wrong_user_codes(5, 5)


# --- the device authorization endpoint


def start(idp, scope="openid profile email offline_access", client_id=CLIENT_ID):
    answer = idp.post("/oidc/device_authorization", {"client_id": client_id, "scope": scope})
    assert answer.status_code == 200, answer.content
    return answer.json()


def poll(idp, device_code, client_id=CLIENT_ID):
    return token(idp, grant_type=DEVICE_GRANT, device_code=device_code, client_id=client_id)


def verify(idp, user, user_code, decision=None):
    idp.force_login(user)
    form = {"user_code": user_code} | ({"decision": decision} if decision else {})
    return idp.post("/device", form)


def forget_last_poll(device_code):
    """As if the device waited its interval."""
    DeviceAuthorization.objects.filter(device_code_hash=policy.token_hash(device_code)).update(
        last_polled_at=timezone.now() - datetime.timedelta(seconds=60)
    )


def test_the_answer_tells_the_device_what_to_show_and_how_often_to_poll(idp, public_client):
    body = start(idp)
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert re.fullmatch("[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", body["user_code"])
    assert body["verification_uri"] == "https://idp.local:8443/device"
    assert body["verification_uri_complete"] == (
        f"https://idp.local:8443/device?user_code={body['user_code']}"
    )
    assert (body["expires_in"], body["interval"]) == (600, 5)


@pytest.mark.postgres
def test_only_a_hash_of_the_device_code_is_stored(idp, public_client):
    body = start(idp)
    row = DeviceAuthorization.objects.get()
    assert row.device_code_hash == policy.token_hash(body["device_code"])
    stored = [str(value) for value in DeviceAuthorization.objects.values().get().values()]
    assert body["device_code"] not in stored


def test_unknown_clients_and_confidential_ones_are_refused(idp, public_client):
    answer = idp.post("/oidc/device_authorization", {"client_id": "nobody"})
    assert answer.status_code == 401 and oauth_error(answer) == "invalid_client"
    public_client.client_type = "confidential"
    public_client.client_secret = "s3cret"
    public_client.save()
    answer = idp.post(
        "/oidc/device_authorization", {"client_id": CLIENT_ID, "client_secret": "s3cret"}
    )
    assert oauth_error(answer) == "unauthorized_client"


def test_scopes_are_limited_to_the_clients(idp, public_client):
    public_client.scope = ["openid", "email"]
    public_client.save()
    start(idp, scope="openid email profile phone")
    assert DeviceAuthorization.objects.get().scope == "openid email"


def test_the_endpoint_is_post_only_json(idp, public_client):
    answer = idp.get("/oidc/device_authorization", {"client_id": CLIENT_ID})
    assert answer.status_code == 405 and oauth_error(answer) == "invalid_request"


def test_discovery_names_the_endpoint_and_the_grant(idp, public_client):
    meta = idp.get("/oidc/.well-known/openid-configuration").json()
    assert meta["device_authorization_endpoint"] == (
        "https://idp.local:8443/oidc/device_authorization"
    )
    assert DEVICE_GRANT in meta["grant_types_supported"]


# --- the verification page


def test_the_page_needs_a_signed_in_person(idp, public_client):
    answer = idp.get("/device", {"user_code": "WDJB-MJHT"})
    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/?next=/device")


def test_the_page_is_prefilled_from_verification_uri_complete(idp, public_client, person):
    idp.force_login(person)
    page = idp.get("/device", {"user_code": "WDJB-MJHT"}).content.decode()
    assert 'value="WDJB-MJHT"' in page


def test_a_typed_code_shows_the_consent_page_naming_client_and_scopes(idp, public_client, person):
    body = start(idp, scope="openid email")
    page = verify(idp, person, body["user_code"].lower().replace("-", " "))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'<span class="client-name">{public_client.name}</span>' in html
    assert "Email address" in html and "Your name" not in html
    assert 'name="decision" value="allow"' in html
    assert DeviceAuthorization.objects.get().status == "pending"  # only shown, not answered


def test_the_consent_post_is_csrf_protected(public_client, person, idp):
    from django.test import Client

    body = start(idp)
    browser = Client(
        enforce_csrf_checks=True, HTTP_HOST="idp.local:8443", **{"wsgi.url_scheme": "https"}
    )
    browser.force_login(person)
    answer = browser.post("/device", {"user_code": body["user_code"], "decision": "allow"})
    assert answer.status_code == 403
    assert DeviceAuthorization.objects.get().status == "pending"


@pytest.mark.postgres
def test_wrong_codes_are_throttled_per_person_with_a_clear_message(
    idp, public_client, person, settings
):
    body = start(idp)
    for _ in range(settings.OIDC_DEVICE_USER_CODE_FAILURE_LIMIT):
        answer = verify(idp, person, "BBBB-BBBB")
        assert answer.status_code == 400
        assert "not valid" in answer.content.decode()
    locked = verify(idp, person, body["user_code"])  # even the right code, now
    assert locked.status_code == 429
    assert "Too many wrong codes" in locked.content.decode()
    assert "client-name" not in locked.content.decode()
    # Another person is not locked out by these failures.
    other = type(person).objects.create_user(username="alice", password="x")
    assert verify(idp, other, body["user_code"]).status_code == 200


def test_the_lockout_ends_after_the_window(idp, public_client, person, settings):
    body = start(idp)
    for _ in range(settings.OIDC_DEVICE_USER_CODE_FAILURE_LIMIT):
        verify(idp, person, "BBBB-BBBB")
    window = datetime.timedelta(seconds=settings.OIDC_DEVICE_USER_CODE_WINDOW_SECONDS + 1)
    WrongUserCode.objects.update(at=timezone.now() - window)
    assert verify(idp, person, body["user_code"]).status_code == 200


def test_an_expired_user_code_is_not_found(idp, public_client, person):
    body = start(idp)
    DeviceAuthorization.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    answer = verify(idp, person, body["user_code"])
    assert answer.status_code == 400 and "expired" in answer.content.decode()


# --- polling the token endpoint


def test_polling_before_an_answer_is_authorization_pending(idp, public_client):
    body = start(idp)
    answer = poll(idp, body["device_code"])
    assert answer.status_code == 400 and oauth_error(answer) == "authorization_pending"
    assert DeviceAuthorization.objects.get().last_polled_at is not None


@pytest.mark.postgres
def test_polling_faster_than_the_interval_is_slow_down_and_the_interval_grows(idp, public_client):
    body = start(idp)
    assert oauth_error(poll(idp, body["device_code"])) == "authorization_pending"
    assert oauth_error(poll(idp, body["device_code"])) == "slow_down"
    assert DeviceAuthorization.objects.get().interval == 10
    assert oauth_error(poll(idp, body["device_code"])) == "slow_down"
    assert DeviceAuthorization.objects.get().interval == 15
    forget_last_poll(body["device_code"])
    assert oauth_error(poll(idp, body["device_code"])) == "authorization_pending"
    assert DeviceAuthorization.objects.get().interval == 15


def test_an_expired_device_code_is_expired_token(idp, public_client, person):
    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    DeviceAuthorization.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    answer = poll(idp, body["device_code"])
    assert oauth_error(answer) == "expired_token"
    assert not Token.objects.exists()


@pytest.mark.postgres
def test_a_denied_request_is_access_denied(idp, public_client, person):
    body = start(idp)
    page = verify(idp, person, body["user_code"], "deny")
    assert "Access denied" in page.content.decode()
    assert oauth_error(poll(idp, body["device_code"])) == "access_denied"
    assert not Token.objects.exists() and not Grant.objects.exists()


@pytest.mark.postgres
def test_approval_gives_the_poller_tokens_of_a_grant(idp, public_client, person):
    body = start(idp)
    page = verify(idp, person, body["user_code"], "allow")
    assert "your device is signed in" in page.content.decode()
    answer = poll(idp, body["device_code"])
    assert answer.status_code == 200, answer.content
    tokens = answer.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid profile email offline_access"
    assert tokens["refresh_token"]
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, CLIENT_ID, str(person.pk))
    grant = Grant.objects.get()
    assert IssuedToken.objects.get().grant == grant and grant.exchanged_at is not None
    userinfo = idp.get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert userinfo.json()["email"] == "bob@example.com"


def test_without_openid_there_is_no_id_token_and_without_offline_access_no_refresh(
    idp, public_client, person
):
    body = start(idp, scope="email")
    verify(idp, person, body["user_code"], "allow")
    tokens = poll(idp, body["device_code"]).json()
    # The request defaults to nothing unasked: `openid` is granted only if asked for.
    assert tokens["scope"] == "email"
    assert "id_token" not in tokens and "refresh_token" not in tokens


@pytest.mark.postgres
def test_device_codes_are_single_use_and_a_replay_revokes_the_grant(idp, public_client, person):
    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    tokens = poll(idp, body["device_code"]).json()
    replay = poll(idp, body["device_code"])
    assert replay.status_code == 400 and oauth_error(replay) == "invalid_grant"
    assert Grant.objects.get().revoked_at is not None
    assert oauth_error(refresh(idp, tokens["refresh_token"])) == "invalid_grant"


@pytest.mark.postgres
def test_refresh_rotation_and_reuse_detection_work_as_for_the_code_flow(idp, public_client, person):
    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    first = poll(idp, body["device_code"]).json()["refresh_token"]
    rotated = refresh(idp, first)
    assert rotated.status_code == 200, rotated.content
    Grant.objects.update(last_used_at=timezone.now() - datetime.timedelta(minutes=5))
    assert oauth_error(refresh(idp, first)) == "invalid_grant"  # reuse, past the grace period
    assert Grant.objects.get().revoked_at is not None
    assert oauth_error(refresh(idp, rotated.json()["refresh_token"])) == "invalid_grant"


@pytest.mark.postgres
def test_a_code_approved_once_cannot_be_answered_again(idp, public_client, person):
    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    again = verify(idp, person, body["user_code"], "deny")
    assert again.status_code == 400
    assert DeviceAuthorization.objects.get().status == "approved"


def test_another_clients_device_code_is_invalid_grant(idp, public_client, person):
    services.seed_public_client("other-cli", redirect_uri="https://mysrv.local:8444/")
    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    assert oauth_error(poll(idp, body["device_code"], client_id="other-cli")) == "invalid_grant"
    assert oauth_error(poll(idp, "not-a-device-code")) == "invalid_grant"
    assert oauth_error(token(idp, grant_type=DEVICE_GRANT, client_id=CLIENT_ID)) == (
        "invalid_request"
    )


@pytest.mark.postgres
def test_a_replay_after_the_purge_still_revokes_the_grant(idp, public_client, person):
    from apps.idp import retention
    from tests.idp.test_retention import LIFETIMES

    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    verify(idp, person, "BBBB-BBBB")
    assert poll(idp, body["device_code"]).status_code == 200
    DeviceAuthorization.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    WrongUserCode.objects.update(at=timezone.now() - datetime.timedelta(days=8))
    counts = retention.purge(timezone.now(), LIFETIMES)
    assert counts["device authorizations"] == 1 and counts["wrong user codes"] == 1
    assert not DeviceAuthorization.objects.exists()
    assert oauth_error(poll(idp, body["device_code"])) == "invalid_grant"
    assert Grant.objects.get().revoked_at is not None
