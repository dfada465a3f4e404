import re

import pytest
from django.contrib.admin.models import LogEntry
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, RSAKey, Token

from apps.idp import admin, keys, services
from apps.idp.models import ECKey
from tests.idp.oauth import authorize, exchange

IDP_HOST = "idp.local:8443"


@pytest.fixture
def admin_client_https(admin_client):
    admin_client.defaults.update(HTTP_HOST=IDP_HOST, **{"wsgi.url_scheme": "https"})
    return admin_client


def client_form(**overrides) -> dict:
    form = {
        "name": "From the admin",
        "client_type": "public",
        "response_types": [services.response_type("code").pk],
        "_redirect_uris": "https://mysrv.local:8444/",
        "jwt_alg": "RS256",
        "require_consent": "on",
        "_scope": "",
        "_post_logout_redirect_uris": "",
        "website_url": "",
        "terms_url": "",
        "contact_email": "",
    }
    form.update(overrides)
    return form


def test_admin_refuses_hs256_for_a_public_client(admin_client_https):
    response = admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(jwt_alg="HS256")
    )
    assert response.status_code == 200  # the form again, with the error
    assert b"a public client has none" in response.content
    assert not OIDCClient.objects.exists()


def test_admin_saves_the_seeds_client_with_rs256(admin_client_https):
    response = admin_client_https.post("/admin/oidc_provider/client/add/", client_form())
    assert response.status_code == 302
    oidc_client = OIDCClient.objects.get()
    assert oidc_client.client_type == "public"
    assert oidc_client.jwt_alg == "RS256"


def test_admin_allows_hs256_for_a_confidential_client(admin_client_https):
    response = admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(client_type="confidential", jwt_alg="HS256")
    )
    assert response.status_code == 302
    assert OIDCClient.objects.get().client_secret  # it has a key to sign with


def test_admin_saves_a_public_client_with_es256(admin_client_https):
    response = admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(jwt_alg="ES256")
    )
    assert response.status_code == 302
    oidc_client = OIDCClient.objects.get()
    assert oidc_client.jwt_alg == "ES256"
    page = admin_client_https.get(f"/admin/oidc_provider/client/{oidc_client.pk}/change/")
    assert page.context["adminform"].form["jwt_alg"].value() == "ES256"  # shown as saved
    change = client_form(jwt_alg="RS256", client_id=oidc_client.client_id)
    response = admin_client_https.post(
        f"/admin/oidc_provider/client/{oidc_client.pk}/change/", change
    )
    assert response.status_code == 302
    assert OIDCClient.objects.get().jwt_alg == "RS256"  # and back


def test_admin_refuses_an_unknown_algorithm(admin_client_https):
    response = admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(jwt_alg="ES512")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["jwt_alg"] == [
        "Select a valid choice. ES512 is not one of the available choices."
    ]
    assert not OIDCClient.objects.exists()


def test_admin_adds_a_generated_es256_key_and_never_shows_it(admin_client_https):
    services.ensure_signing_keys(("ES256",))  # migrate's, unless a transactional test flushed it
    first = ECKey.objects.get()
    response = admin_client_https.post("/admin/idp/eckey/add/", {})
    assert response.status_code == 302, response.content

    added = ECKey.objects.exclude(pk=first.pk).get()
    assert "BEGIN PRIVATE KEY" in added.key
    published = {key["kid"] for key in keys.jwks()["keys"]}
    assert keys.ec_kid(added.key) in published  # at once in this process: signals drop the cache
    page = admin_client_https.get(f"/admin/idp/eckey/{added.pk}/change/").content.decode()
    assert keys.ec_kid(added.key) in page
    assert "PRIVATE KEY" not in page and added.key.splitlines()[1] not in page


def test_a_confidential_hs256_client_cannot_become_public_with_a_blank_algorithm(
    admin_client_https,
):
    admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(client_type="confidential", jwt_alg="HS256")
    )
    oidc_client = OIDCClient.objects.get()
    for jwt_alg in ("", "HS256"):
        change = client_form(client_type="public", jwt_alg=jwt_alg, client_id=oidc_client.client_id)
        response = admin_client_https.post(
            f"/admin/oidc_provider/client/{oidc_client.pk}/change/", change
        )
        assert response.status_code == 200  # the form again, with the error
    stored = OIDCClient.objects.get()
    assert (stored.client_type, stored.jwt_alg) == ("confidential", "HS256")


@pytest.mark.parametrize("jwt_alg", ["HS256", ""])
def test_no_path_saves_a_public_client_without_rs256_or_es256(db, jwt_alg):
    oidc_client = OIDCClient.objects.create(
        name="c", client_id="c", client_type="confidential", client_secret="s", jwt_alg="HS256"
    )
    oidc_client.client_type = "public"
    oidc_client.jwt_alg = jwt_alg
    with pytest.raises(services.SeedError):
        oidc_client.save()
    assert OIDCClient.objects.get().client_type == "confidential"


@pytest.mark.parametrize("field", ["_redirect_uris", "_post_logout_redirect_uris"])
@pytest.mark.parametrize(
    "uri", ["javascript:alert(1)", "*", "http://rp.example/cb", "http://localhost:8765/"]
)
def test_admin_refuses_unsafe_redirect_uris(admin_client_https, field, uri):
    form = client_form(**{field: f"https://mysrv.local:8444/\n{uri}"})
    response = admin_client_https.post("/admin/oidc_provider/client/add/", form)
    assert response.status_code == 200
    assert not OIDCClient.objects.exists()


def test_admin_accepts_a_loopback_redirect_uri(admin_client_https):
    form = client_form(_redirect_uris="http://127.0.0.1:8765/callback\r\nhttp://[::1]:8765/cb")
    response = admin_client_https.post("/admin/oidc_provider/client/add/", form)
    assert response.status_code == 302


@pytest.fixture
def live_grant(db, admin_user):
    from datetime import timedelta

    from django.utils import timezone
    from oidc_provider.models import Code, Token

    oidc_client = OIDCClient.objects.create(name="rp", client_id="rp", client_type="public")
    expires = timezone.now() + timedelta(minutes=5)
    code = Code.objects.create(
        client=oidc_client, user=admin_user, code="the-code-value-c0de", expires_at=expires
    )
    token = Token.objects.create(
        client=oidc_client,
        user=admin_user,
        access_token="the-access-token-acce55",
        refresh_token="the-refresh-token-ref4e5h",
        expires_at=expires,
    )
    return code, token


SECRETS = [b"the-code-value-c0de", b"the-access-token-acce55", b"the-refresh-token-ref4e5h"]


def test_admin_never_shows_tokens_or_codes(admin_client_https, live_grant):
    code, token = live_grant
    pages = [
        "/admin/oidc_provider/code/",
        f"/admin/oidc_provider/code/{code.pk}/change/",
        f"/admin/oidc_provider/code/{code.pk}/delete/",
        "/admin/oidc_provider/token/",
        f"/admin/oidc_provider/token/{token.pk}/change/",
        f"/admin/oidc_provider/token/{token.pk}/delete/",
    ]
    for url in pages:
        page = admin_client_https.get(url)
        assert page.status_code == 200, url
        assert not any(secret in page.content for secret in SECRETS), url
    listing = admin_client_https.get("/admin/oidc_provider/token/")
    assert admin.fingerprint(token.access_token).encode() in listing.content
    assert b'id="searchbar"' not in listing.content  # no search by value
    # no way to edit the value; deleting still revokes
    admin_client_https.post(
        f"/admin/oidc_provider/token/{token.pk}/change/", {"access_token": "chosen"}
    )
    assert Token.objects.get().access_token == "the-access-token-acce55"
    admin_client_https.post(f"/admin/oidc_provider/token/{token.pk}/delete/", {"post": "yes"})
    admin_client_https.post(f"/admin/oidc_provider/code/{code.pk}/delete/", {"post": "yes"})
    assert not Token.objects.exists() and not Code.objects.exists()
    log = LogEntry.objects.values_list("object_repr", flat=True)
    assert not any(secret.decode() in repr_ for repr_ in log for secret in SECRETS)


def test_the_admin_fingerprint_is_the_one_of_the_value_the_client_holds(
    admin_client_https, public_client, idp, person
):
    tokens = exchange(idp, authorize(idp, person)).json()
    listing = admin_client_https.get("/admin/oidc_provider/token/").content.decode()
    assert admin.fingerprint(tokens["access_token"]) in listing
    assert tokens["access_token"] not in listing
    assert Token.objects.get().access_token not in listing  # nor the full hash


def test_admin_generates_rsa_keys_and_never_shows_them(admin_client_https):
    RSAKey.objects.all().delete()
    response = admin_client_https.post("/admin/oidc_provider/rsakey/add/", {})
    assert response.status_code == 302
    rsa_key = RSAKey.objects.get()
    assert "BEGIN RSA PRIVATE KEY" in rsa_key.key
    body = rsa_key.key.splitlines()[1].encode()
    for url in [
        "/admin/oidc_provider/rsakey/",
        f"/admin/oidc_provider/rsakey/{rsa_key.pk}/change/",
    ]:
        page = admin_client_https.get(url)
        assert page.status_code == 200
        assert body not in page.content and b"PRIVATE KEY" not in page.content
        assert rsa_key.kid.encode() in page.content
    admin_client_https.post(f"/admin/oidc_provider/rsakey/{rsa_key.pk}/change/", {"key": "pasted"})
    assert RSAKey.objects.get().key == rsa_key.key


def test_admin_never_shows_a_confidential_clients_secret(admin_client_https):
    admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(client_type="confidential", jwt_alg="HS256")
    )
    oidc_client = OIDCClient.objects.get()
    page = admin_client_https.get(f"/admin/oidc_provider/client/{oidc_client.pk}/change/")
    assert oidc_client.client_secret.encode() not in page.content
    assert admin.fingerprint(oidc_client.client_secret).encode() in page.content


def test_admin_says_a_public_client_has_no_secret_instead_of_an_empty_box(admin_client_https):
    admin_client_https.post("/admin/oidc_provider/client/add/", client_form())
    oidc_client = OIDCClient.objects.get()
    assert oidc_client.client_type == "public" and not oidc_client.client_secret
    page = admin_client_https.get(f"/admin/oidc_provider/client/{oidc_client.pk}/change/")
    assert "A public client has none (RFC 6749 §2.1)" in page.content.decode()


def test_admin_requires_dpop_for_a_client_when_ticked(admin_client_https):
    response = admin_client_https.post(
        "/admin/oidc_provider/client/add/", client_form(require_dpop="on")
    )
    assert response.status_code == 302
    oidc_client = OIDCClient.objects.get()
    assert services.requires_dpop(oidc_client)
    page = admin_client_https.get(f"/admin/oidc_provider/client/{oidc_client.pk}/change/")
    assert re.search(rb'<input type="checkbox" name="require_dpop"[^>]* checked>', page.content)
