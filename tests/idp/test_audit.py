"""Audit events: a JSON line per security event, with ids and never a secret."""

import json
import logging
from collections.abc import Iterator

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from oidc_provider.models import Client as OIDCClient

from tests.conftest import END_USER_PASSWORD

FIELDS = {"time", "event", "client_id", "user_id", "grant_id", "source", "request_id"}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def audit_lines() -> Iterator[list[str]]:
    handler = Collect()
    audit = logging.getLogger("idp.audit")
    audit.addHandler(handler)
    yield handler.lines
    audit.removeHandler(handler)


def events(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


@pytest.fixture
def idp_host(settings):
    settings.ALLOWED_HOSTS = ["idp.test"]
    settings.SITE_URL = "https://idp.test"
    return {"HTTP_HOST": "idp.test", "secure": True}


def test_sign_ins_are_audited_with_their_request_id(client, idp_host, end_user, audit_lines):
    wrong = client.post(
        "/accounts/login/", {"username": end_user.username, "password": "hunter2"}, **idp_host
    )
    right = client.post(
        "/accounts/login/",
        {"username": end_user.username, "password": END_USER_PASSWORD},
        **idp_host,
    )
    failed, succeeded = events(audit_lines)
    assert set(failed) >= FIELDS and set(succeeded) >= FIELDS
    assert failed["event"] == "sign_in.failed" and failed["request_id"] == wrong["X-Request-ID"]
    assert succeeded["event"] == "sign_in.succeeded"
    assert succeeded["user_id"] == end_user.pk
    assert succeeded["request_id"] == right["X-Request-ID"]
    assert succeeded["source"] == "127.0.0.1"
    assert not any("hunter2" in line or END_USER_PASSWORD in line for line in audit_lines)


def test_a_lockout_is_audited(client, idp_host, end_user, audit_lines, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/", {"username": end_user.username, "password": "x"}, **idp_host
        )
    assert "sign_in.locked_out" in [event["event"] for event in events(audit_lines)]


def test_admin_changes_are_audited(admin_user, audit_lines, db):
    oidc_client = OIDCClient.objects.create(name="audited", client_id="audited-client")
    LogEntry.objects.create(
        user=admin_user,
        content_type=ContentType.objects.get_for_model(OIDCClient),
        object_id=str(oidc_client.pk),
        object_repr=str(oidc_client),
        action_flag=ADDITION,
    )
    (change,) = events(audit_lines)
    assert change["event"] == "admin.change" and change["action"] == "added"
    assert change["model"] == "client" and change["user_id"] == admin_user.pk


@pytest.mark.integration
def test_a_sign_in_and_its_tokens_leave_an_audit_trail(
    origins, https, seed_client, sign_in, refresh, audit_lines
):
    tokens = sign_in()
    first = tokens["refresh_token"]
    rotated = refresh(first).json()["refresh_token"]
    refresh(rotated)
    reused = refresh(first)
    assert reused.json()["error"] == "invalid_grant"
    https.post(
        f"{origins.issuer}/revoke",
        data={"token": rotated, "client_id": seed_client.client_id},
        timeout=10,
    )
    trail = events(audit_lines)
    names = [event["event"] for event in trail]
    assert names == [
        "sign_in.succeeded",
        "code.issued",
        "consent.given",
        "tokens.issued",
        "refresh.rotated",
        "refresh.rotated",
        "refresh.reuse_detected",
        "token.revoked",
    ]
    grant_ids = {event["grant_id"] for event in trail if event["grant_id"] is not None}
    assert len(grant_ids) == 1  # one grant followed from its code to its reuse
    assert all(event["client_id"] == seed_client.client_id for event in trail[1:])
    for secret in (first, rotated, tokens["access_token"], tokens["id_token"]):
        assert not any(secret in line for line in audit_lines)
