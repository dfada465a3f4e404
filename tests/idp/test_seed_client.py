from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import RSAKey

from apps.idp.models import ECKey


@pytest.fixture
def client_id_file(settings, tmp_path):
    settings.PKCE_CLIENT_ID_FILE = tmp_path / "pkce_client_id"
    return settings.PKCE_CLIENT_ID_FILE


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_client", *args, stdout=out)
    return out.getvalue()


def test_seed_client_twice_leaves_one_client(db, client_id_file):
    for _ in range(2):
        seed("--client-id", "demo")
    assert OIDCClient.objects.filter(client_id="demo").count() == 1


def test_seed_client_creates_the_seeds_public_rs256_client(db, client_id_file, settings):
    output = seed("--client-id", "demo")
    oidc_client = OIDCClient.objects.get(client_id="demo")
    assert oidc_client.client_type == "public"
    assert oidc_client.client_secret == ""
    assert oidc_client.jwt_alg == "RS256"
    assert list(oidc_client.response_type_values()) == ["code"]
    assert oidc_client.redirect_uris == [
        settings.RECEIVER_URL,
        "http://127.0.0.1/callback",
        "http://[::1]/callback",
    ]
    assert oidc_client.require_consent and not oidc_client.reuse_consent
    assert oidc_client.scope == ["openid", "profile", "email", "offline_access"]
    assert "client_id: demo" in output
    assert RSAKey.objects.count() == 1
    assert ECKey.objects.count() == 1  # published beside it, for clients that ask for ES256


def test_seed_client_without_id_generates_one_and_reuses_it(db, client_id_file):
    seed()
    first = client_id_file.read_text().strip()
    seed()
    assert client_id_file.read_text().strip() == first
    assert OIDCClient.objects.filter(client_id=first).count() == 1
    assert len(first) >= 16


def test_seed_client_refuses_hs256_and_changes_nothing(db, client_id_file):
    seed("--client-id", "demo")
    with pytest.raises(CommandError, match="public client has none"):
        seed("--client-id", "demo", "--alg", "HS256")
    assert OIDCClient.objects.get(client_id="demo").jwt_alg == "RS256"


def test_seed_client_alg_es256_makes_an_es256_client(db, client_id_file):
    seed("--client-id", "demo")
    output = seed("--client-id", "demo", "--alg", "ES256")
    assert OIDCClient.objects.get(client_id="demo").jwt_alg == "ES256"
    assert "ready, ES256," in output
    assert ECKey.objects.count() == 1  # the key it needs


@pytest.mark.parametrize("alg", ["ES512", "none", "es256", ""])
def test_seed_client_refuses_an_unknown_alg_and_changes_nothing(db, client_id_file, alg):
    seed("--client-id", "demo")
    with pytest.raises(CommandError, match="invalid choice"):
        seed("--client-id", "demo", "--alg", alg)
    assert OIDCClient.objects.get(client_id="demo").jwt_alg == "RS256"


def test_seed_client_update_keeps_the_signing_key(db, client_id_file):
    seed("--client-id", "demo")
    key = RSAKey.objects.get()
    seed("--client-id", "demo", "--redirect-uri", "https://mysrv.local:8444/")
    assert list(RSAKey.objects.all()) == [key]


@pytest.mark.parametrize("uri", ["javascript:alert(1)", "http://rp.example/", "https://*.x/"])
def test_seed_client_refuses_an_unsafe_redirect_uri(db, client_id_file, uri):
    with pytest.raises(CommandError, match="Refusing to seed the client"):
        seed("--client-id", "demo", "--redirect-uri", uri)
    assert not OIDCClient.objects.exists()


def test_seed_client_registers_post_logout_redirect_uris(db, client_id_file):
    seed("--client-id", "cli", "--post-logout-redirect-uri", "https://app.test/bye")
    assert OIDCClient.objects.get().post_logout_redirect_uris == ["https://app.test/bye"]
    seed(
        "--client-id",
        "cli",
        "--post-logout-redirect-uri",
        "https://app.test/bye",
        "--post-logout-redirect-uri",
        "http://127.0.0.1:8765/bye",
    )
    expected = ["https://app.test/bye", "http://127.0.0.1:8765/bye"]
    assert OIDCClient.objects.get().post_logout_redirect_uris == expected
    seed("--client-id", "cli")  # not given: kept
    assert OIDCClient.objects.get().post_logout_redirect_uris == expected


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.test/bye",
        "http://localhost:8765/bye",
        "/bye",
        "https://app.test/bye#frag",
        "javascript:alert(1)",
        "https://user@app.test/",
    ],
)
def test_seed_client_refuses_an_unsafe_post_logout_redirect_uri(db, client_id_file, uri):
    seed("--client-id", "cli", "--post-logout-redirect-uri", "https://app.test/bye")
    with pytest.raises(CommandError, match="post-logout redirect URI"):
        seed("--client-id", "cli", "--post-logout-redirect-uri", uri)
    assert OIDCClient.objects.get().post_logout_redirect_uris == ["https://app.test/bye"]


def test_the_seeded_client_may_use_the_device_grant(idp, client_id_file):
    seed("--client-id", "demo")
    started = idp.post(
        "/oidc/device_authorization", {"client_id": "demo", "scope": "openid offline_access"}
    )
    assert started.status_code == 200, started.content
    assert {"device_code", "user_code", "verification_uri_complete"} <= started.json().keys()
