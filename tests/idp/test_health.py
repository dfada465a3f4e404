"""/healthz and /readyz: what a load balancer asks an instance before sending it traffic."""

import pytest
from django.db import DatabaseError
from oidc_provider.models import RSAKey

from apps.idp import keys, services


@pytest.fixture
def idp_host(settings):
    settings.ALLOWED_HOSTS = ["idp.test"]
    settings.SITE_URL = "https://idp.test"
    return {"HTTP_HOST": "idp.test", "secure": True}


def test_healthz_answers_ok_without_the_database(client, idp_host):
    response = client.get("/healthz", **idp_host)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_readyz_is_ok_with_a_database_and_a_signing_key(client, idp_host, db):
    services.ensure_signing_keys()
    response = client.get("/readyz", **idp_host)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_fails_without_a_signing_key(client, idp_host, db):
    RSAKey.objects.all().delete()
    keys.forget_keys()
    response = client.get("/readyz", **idp_host)
    assert response.status_code == 503
    assert response.json() == {"status": "failing"}


def test_readyz_fails_when_the_database_does_not_answer(client, idp_host, db, monkeypatch):
    services.ensure_signing_keys()

    class DatabaseDown:
        def cursor(self):
            raise DatabaseError("connection refused")

    monkeypatch.setattr("apps.idp.health.connection", DatabaseDown())
    response = client.get("/readyz", **idp_host)
    assert response.status_code == 503
    assert response.json() == {"status": "failing"}  # no error text for whoever asks


def test_health_endpoints_are_not_on_the_receiver_origin(client, settings, db):
    settings.ALLOWED_HOSTS = ["idp.test", "rp.test"]
    settings.SITE_URL = "https://idp.test"
    settings.RECEIVER_URL = "https://rp.test/"
    assert client.get("/readyz", HTTP_HOST="rp.test", secure=True).status_code == 404
