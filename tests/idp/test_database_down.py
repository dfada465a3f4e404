"""A database that does not answer: 503 with Retry-After, OAuth JSON for programs, never a 500."""

import pytest
from django.db import OperationalError
from django.test import Client as DjangoClient

from tests.idp.oauth import FormClient


@pytest.fixture
def idp(settings) -> dict:
    settings.ALLOWED_HOSTS = ["idp.test"]
    settings.SITE_URL = "https://idp.test"
    return {"HTTP_HOST": "idp.test", "secure": True}


@pytest.fixture
def database_down(monkeypatch, db):
    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
        yield


def test_the_token_endpoint_answers_temporarily_unavailable(idp, database_down):
    client = FormClient(raise_request_exception=False)
    form = {"grant_type": "refresh_token", "refresh_token": "a.b", "client_id": "cli"}
    answer = client.post("/oidc/token", form, **idp)
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer["Retry-After"] == "5" and answer["Cache-Control"] == "no-store"


def test_a_page_says_so_in_words(idp, database_down):
    client = DjangoClient(raise_request_exception=False)
    answer = client.post("/accounts/login/", {"username": "alice", "password": "pw"}, **idp)
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert "Temporarily unavailable" in answer.text and "Traceback" not in answer.text


def test_readyz_fails_while_the_database_is_down(idp, database_down):
    answer = DjangoClient(raise_request_exception=False).get("/readyz", **idp)
    assert answer.status_code == 503
