"""Dynamic client registration (RFC 7591) and its management (RFC 7592), in-process."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from oidc_provider.models import Client as OIDCClient

from apps.client import pkce
from apps.idp import registration, retention
from apps.idp.models import DeviceAuthorization, RegisteredClient
from tests.idp.oauth import FormClient, redirect_params

LOOPBACK = "http://127.0.0.1/callback"
NATIVE = {
    "client_name": "Example CLI",
    "redirect_uris": [LOOPBACK],
    "grant_types": ["authorization_code", "refresh_token", registration.DEVICE_GRANT],
    "token_endpoint_auth_method": "none",
}


def register(idp: FormClient, metadata: object, **extra):
    body = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return idp.post("/oidc/register", body, content_type="application/json", **extra)


def registered(idp: FormClient, **overrides) -> dict:
    answer = register(idp, {**NATIVE, **overrides})
    assert answer.status_code == 201, answer.content
    return answer.json()


def management(idp: FormClient, method: str, body: dict, token: str | None):
    path = body["registration_client_uri"].removeprefix("https://idp.local:8443")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return getattr(idp, method)(path, **headers)


def test_a_native_client_registers_itself_as_a_public_client(idp):
    body = registered(idp)
    assert body["token_endpoint_auth_method"] == "none"
    assert body["redirect_uris"] == [LOOPBACK]
    assert body["grant_types"] == NATIVE["grant_types"]
    assert body["response_types"] == ["code"]
    assert body["client_name"] == "Example CLI"
    assert body["registration_client_uri"].endswith(f"/oidc/register/{body['client_id']}")
    assert "client_secret" not in body
    client = OIDCClient.objects.get(client_id=body["client_id"])
    assert (client.client_type, client.client_secret, client.require_consent) == (
        "public",
        "",
        True,
    )
    # The registration access token is kept as its hash only.
    row = RegisteredClient.objects.get(client=client)
    token = body["registration_access_token"]
    assert token not in row.access_token_hash and len(row.access_token_hash) == 64


def test_the_auth_method_defaults_to_none_instead_of_a_secret(idp):
    metadata = {k: v for k, v in NATIVE.items() if k != "token_endpoint_auth_method"}
    assert registered(idp, **metadata)["token_endpoint_auth_method"] == "none"


def test_without_the_refresh_grant_no_offline_access(idp):
    body = registered(idp, grant_types=["authorization_code"])
    assert "offline_access" not in body["scope"].split()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"redirect_uris": ["https://app.example/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://localhost/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://192.168.1.2/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://127.0.0.1/cb#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["com.example.app:/callback"]}, "invalid_redirect_uri"),
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": "http://127.0.0.1/callback"}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"grant_types": ["authorization_code", "password"]}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"application_type": "web"}, "invalid_client_metadata"),
        ({"client_name": "x" * 101}, "invalid_client_metadata"),
        ({"client_name": "bell\x07"}, "invalid_client_metadata"),
        ({"scope": "admin"}, "invalid_client_metadata"),
    ],
)
def test_anything_but_a_public_native_client_is_refused(idp, overrides, error):
    answer = register(idp, {**NATIVE, **overrides})
    assert (answer.status_code, answer.json()["error"]) == (400, error)
    assert not RegisteredClient.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"a string"'])
def test_a_body_that_is_no_json_object_is_invalid_client_metadata(idp, body):
    answer = register(idp, body)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_client_metadata")


def test_the_receiver_page_may_be_registered(idp, settings):
    assert registered(idp, redirect_uris=[settings.RECEIVER_URL])["redirect_uris"] == [
        settings.RECEIVER_URL
    ]


def test_registrations_are_limited_per_address(idp, settings):
    settings.OIDC_REGISTRATION_LIMIT = 2
    for _ in range(2):
        registered(idp)
    refused = register(idp, NATIVE)
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(settings.OIDC_REGISTRATION_WINDOW_SECONDS)
    assert RegisteredClient.objects.count() == 2
    # Another address is not held back by this one's registrations.
    assert register(idp, NATIVE, REMOTE_ADDR="192.0.2.7").status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_address_counts(idp, settings):
    settings.OIDC_REGISTRATION_LIMIT = 1
    settings.TRUSTED_PROXY_COUNT = 1
    first = register(idp, NATIVE, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = register(idp, NATIVE, HTTP_X_FORWARDED_FOR="198.51.100.1")
    other = register(idp, NATIVE, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert (first.status_code, second.status_code, other.status_code) == (201, 429, 201)


def test_the_registration_is_read_with_its_token_only(idp):
    body = registered(idp)
    token = body.pop("registration_access_token")
    read = management(idp, "get", body, token)
    assert read.status_code == 200
    fresh = read.json().pop("registration_access_token")
    assert {k: v for k, v in read.json().items() if k != "registration_access_token"} == body
    # Each read answers with a new token (RFC 7592 §2.1); the old one is spent.
    assert fresh != token
    assert management(idp, "get", body, token).status_code == 401
    assert management(idp, "get", body, fresh).status_code == 200
    other = registered(idp)
    for wrong in (None, "", "not-the-token", other["registration_access_token"]):
        refused = management(idp, "get", body, wrong)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert refused["WWW-Authenticate"].startswith("Bearer ")


def test_an_unknown_client_gets_the_same_refusal(idp):
    body = {"registration_client_uri": "https://idp.local:8443/oidc/register/nobody"}
    assert management(idp, "get", body, "some-token").status_code == 401


def test_delete_needs_the_token_and_removes_the_client(idp):
    body = registered(idp)
    token = body["registration_access_token"]
    assert management(idp, "delete", body, "wrong").status_code == 401
    assert OIDCClient.objects.filter(client_id=body["client_id"]).exists()
    assert management(idp, "delete", body, token).status_code == 204
    assert not OIDCClient.objects.filter(client_id=body["client_id"]).exists()
    assert management(idp, "get", body, token).status_code == 401


def test_updates_are_not_served(idp):
    body = registered(idp)
    path = body["registration_client_uri"].removeprefix("https://idp.local:8443")
    answer = idp.put(path, "{}", content_type="application/json")
    assert answer.status_code == 405


def lifetimes(unused: timedelta) -> retention.Lifetimes:
    return retention.Lifetimes(
        code=timedelta(days=1),  # the test's grants stay alive
        refresh_idle=timedelta(days=1),
        refresh_absolute=timedelta(days=14),
        revoked_after=timedelta(days=7),
        login_records=timedelta(days=7),
        lockout=timedelta(minutes=15),
        unused_registration=unused,
    )


def test_a_registered_client_never_used_expires(idp, person):
    unused, used = registered(idp), registered(idp)
    # `used` signs someone in: the consent makes a grant.
    idp.force_login(person)
    verifier = pkce.make_verifier()
    params = {
        "client_id": used["client_id"],
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": "http://127.0.0.1:4321/callback",
        "state": "s",
        "code_challenge": pkce.s256_challenge(verifier),
        "code_challenge_method": "S256",
    }
    answer = idp.post("/oidc/authorize/consent", {**params, "allow": "Allow"})
    assert "code" in redirect_params(answer["Location"])
    later = timezone.now() + timedelta(hours=2)
    counts = retention.purge(later, lifetimes(timedelta(hours=1)))
    assert counts["unused self-registered clients"] == 1
    assert not OIDCClient.objects.filter(client_id=unused["client_id"]).exists()
    assert OIDCClient.objects.filter(client_id=used["client_id"]).exists()


def test_a_fresh_registration_is_not_purged(idp):
    body = registered(idp)
    retention.purge(timezone.now(), lifetimes(timedelta(hours=1)))
    assert OIDCClient.objects.filter(client_id=body["client_id"]).exists()


def test_purge_expired_reads_the_setting(idp, settings, capsys):
    registered(idp)
    RegisteredClient.objects.update(registered_at=timezone.now() - timedelta(seconds=120))
    settings.OIDC_REGISTRATION_UNUSED_SECONDS = 60
    call_command("purge_expired")
    assert "1  unused self-registered clients" in capsys.readouterr().out
    assert not RegisteredClient.objects.exists()


def consent_page(idp, person, client_id: str, **extra):
    idp.force_login(person)
    verifier = pkce.make_verifier()
    return idp.get(
        "/oidc/authorize",
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid profile",
            "redirect_uri": "http://127.0.0.1:4321/callback",
            "state": "s",
            "code_challenge": pkce.s256_challenge(verifier),
            "code_challenge_method": "S256",
            **extra,
        },
    )


def test_the_consent_page_says_the_application_is_not_verified(idp, person):
    body = registered(idp, client_name='<b onclick="x()">Evil</b> & Co')
    page = consent_page(idp, person, body["client_id"]).content.decode()
    assert "Not verified" in page
    assert "registered itself" in page
    assert "&lt;b onclick=&quot;x()&quot;&gt;Evil&lt;/b&gt; &amp; Co" in page
    assert "<b onclick" not in page


def test_an_operators_client_has_no_such_notice(idp, person, public_client):
    public_client._redirect_uris += "\nhttp://127.0.0.1/callback"
    public_client.save()
    page = consent_page(idp, person, public_client.client_id)
    assert page.status_code == 200
    assert "Not verified" not in page.content.decode()


def test_the_device_consent_says_it_too(idp, person):
    body = registered(idp)
    started = idp.post("/oidc/device_authorization", {"client_id": body["client_id"]})
    assert started.status_code == 200, started.content
    idp.force_login(person)
    page = idp.post("/device", {"user_code": started.json()["user_code"]})
    assert "Not verified" in page.content.decode()


def test_a_client_registered_without_the_device_grant_cannot_use_it(idp):
    body = registered(idp, grant_types=["authorization_code", "refresh_token"])
    refused = idp.post("/oidc/device_authorization", {"client_id": body["client_id"]})
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")
    assert not DeviceAuthorization.objects.exists()
