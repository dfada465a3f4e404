"""/metrics: what Prometheus scrapes, and who may read it."""

import time
from datetime import timedelta

import pytest
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from oidc_provider.models import RSAKey
from prometheus_client import REGISTRY

from apps.idp import keys, metrics, services
from apps.idp.models import KeyCreation
from tests.conftest import END_USER_PASSWORD


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def idp_host(settings):
    settings.ALLOWED_HOSTS = ["idp.test"]
    settings.SITE_URL = "https://idp.test"
    return {"HTTP_HOST": "idp.test", "secure": True}


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (JsonResponse({"access_token": "x"}), "ok"),
        (JsonResponse({"error": "invalid_grant"}, status=400), "invalid_grant"),
        (JsonResponse({"error": "made-up"}, status=400), "http_400"),  # labels stay bounded
        (
            HttpResponse(status=302, headers={"Location": "https://rp/?error=access_denied"}),
            "access_denied",
        ),
        (HttpResponse(status=302, headers={"Location": "https://rp/?code=abc"}), "ok"),
        (HttpResponse("page", status=404), "http_404"),
    ],
)
def test_the_outcome_is_ok_or_the_oauth_error(response, outcome):
    assert metrics.outcome_of(response) == outcome


def test_unknown_paths_and_grant_types_share_one_label(rf):
    assert metrics.endpoint_of("/oidc/token/") == "token"
    assert metrics.endpoint_of("/oidc/device_authorization") == "device_authorization"
    assert metrics.endpoint_of("/device") == "device_verification"
    assert metrics.endpoint_of("/some/random/path") == "other"
    request = rf.post("/oidc/token", {"grant_type": "x" * 40})
    assert metrics.grant_type_of(request, "token") == "other"


def test_token_requests_are_counted_by_grant_type_and_error(client, idp_host, db):
    labels = {"endpoint": "token", "grant_type": "refresh_token", "outcome": "invalid_client"}
    before = sample("idp_requests_total", **labels)
    form = {"grant_type": "refresh_token", "refresh_token": "nope", "client_id": "nobody"}
    answer = client.post("/oidc/token", form, **idp_host)
    assert answer.json()["error"] == "invalid_client"
    assert sample("idp_requests_total", **labels) == before + 1


def test_sign_ins_are_counted_by_outcome(client, idp_host, end_user):
    failed, ok = (
        sample("idp_sign_ins_total", outcome="failed"),
        sample("idp_sign_ins_total", outcome="ok"),
    )
    page = client.get("/accounts/login/", **idp_host)
    assert page.status_code == 200
    client.post(
        "/accounts/login/", {"username": end_user.username, "password": "wrong"}, **idp_host
    )
    client.post(
        "/accounts/login/",
        {"username": end_user.username, "password": END_USER_PASSWORD},
        **idp_host,
    )
    assert sample("idp_sign_ins_total", outcome="failed") == failed + 1
    assert sample("idp_sign_ins_total", outcome="ok") == ok + 1


def test_metrics_answer_loopback_callers(client, idp_host, db):
    client.get("/oidc/.well-known/openid-configuration", **idp_host)
    answer = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **idp_host)
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert 'idp_requests_total{endpoint="discovery",grant_type="",outcome="ok"}' in answer.text
    assert "idp_request_duration_seconds_bucket" in answer.text


def test_metrics_refuse_other_addresses_without_the_bearer_secret(client, idp_host, settings, db):
    settings.OIDC_METRICS_TOKEN = "scrape-secret"
    remote = {"REMOTE_ADDR": "192.0.2.7", **idp_host}
    assert client.get("/metrics", **remote).status_code == 403
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess", **remote)
    assert wrong.status_code == 403
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret", **remote)
    assert right.status_code == 200


def test_without_a_configured_secret_no_bearer_opens_metrics(client, idp_host, settings, db):
    settings.OIDC_METRICS_TOKEN = ""
    answer = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="192.0.2.7", **idp_host
    )
    assert answer.status_code == 403


def test_metrics_show_the_age_of_each_signing_key(client, idp_host, db):
    # Keys migrate made when the test database was created are as old as the test run.
    for table in services.SIGNING_KEY_TABLES.values():
        table.objects.all().delete()
    keys.forget_keys()
    services.ensure_signing_keys()
    # The keys may be older than this test (made by an earlier one): make their age known.
    KeyCreation.objects.update(created_at=timezone.now() - timedelta(hours=1))
    answer = client.get("/metrics", REMOTE_ADDR="127.0.0.1", **idp_host)
    ages = {
        line.split('"')[1]: float(line.split()[-1])
        for line in answer.text.splitlines()
        if line.startswith("idp_signing_key_age_seconds{")
    }
    assert set(ages) == {"RS256", "ES256"}
    assert all(3600 <= age < 3660 for age in ages.values())


def test_a_key_age_counts_from_its_making(db):
    services.ensure_signing_keys()
    rsa = RSAKey.objects.order_by("id").first()
    KeyCreation.objects.filter(alg="RS256", key_id=rsa.pk).update(
        created_at=timezone.now() - timedelta(days=90)
    )
    age = keys.signing_key_ages(time.time())["RS256"]
    assert 90 * 86400 - 60 < age < 90 * 86400 + 60
