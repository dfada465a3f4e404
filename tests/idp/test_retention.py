"""manage.py purge_expired: storage returns to its size once everything has expired."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
import requests
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from oidc_provider.models import Code, Token, UserConsent

from apps.idp import retention
from apps.idp.models import Grant, IssuedToken
from tests import flows

pytestmark = pytest.mark.integration

TABLES = (Grant, IssuedToken, Token, Code, UserConsent, Session)
SIGN_IN_RECORDS = (AccessAttempt, AccessLog, AccessFailureLog)
LIFETIMES = retention.Lifetimes(
    code=timedelta(seconds=60),
    refresh_idle=timedelta(days=1),
    refresh_absolute=timedelta(days=14),
    revoked_after=timedelta(days=7),
    login_records=timedelta(days=7),
    lockout=timedelta(minutes=15),
)


def sizes() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (*TABLES, *SIGN_IN_RECORDS)}


def browser(origins) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = origins.ca_file
    return http


@pytest.mark.postgres
def test_after_everything_expires_the_tables_return_to_their_size(
    origins, seed_client, end_user, sign_in, refresh
):
    before = sizes()
    for _ in range(3):
        with browser(origins) as http:  # a browser each: a session each
            tokens = sign_in(http)
    with browser(origins) as http:
        refreshed = refresh(tokens["refresh_token"], http)
        assert refreshed.status_code == 200
        revoked = http.post(
            f"{origins.issuer}/revoke",
            data={"token": refreshed.json()["refresh_token"], "client_id": seed_client.client_id},
            timeout=10,
        )
        assert revoked.status_code == 200
        flows.attempt_log_in(http, origins.idp_url, end_user.username, "wrong password")
    grown = sizes()
    assert grown["Grant"] == before["Grant"] + 3 and grown["Session"] > before["Session"]
    assert grown["AccessAttempt"] > before["AccessAttempt"]

    later = timezone.now() + timedelta(days=120)  # past the consents (90 days) too
    counts = retention.purge(later, LIFETIMES, batch_size=2)  # several batches each
    assert counts["grants (with their tokens)"] == 3
    assert sizes() == before
    assert set(retention.purge(later, LIFETIMES).values()) == {0}  # idempotent


def test_what_can_still_be_used_is_kept(sign_in, refresh):
    tokens = sign_in()
    counts = retention.purge(timezone.now(), LIFETIMES)
    assert counts["grants (with their tokens)"] == 0
    refreshed = refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


@pytest.mark.postgres
def test_refreshes_go_on_while_a_large_purge_runs(origins, seed_client, sign_in, refresh):
    tokens = sign_in()
    long_ago = timezone.now() - timedelta(days=60)
    Grant.objects.bulk_create(
        Grant(
            client=seed_client,
            code_hash=f"{n:064x}",
            family=f"{n:032x}",
            redirect_uri=origins.receiver_url,
            created_at=long_ago,
        )
        for n in range(2000)
    )
    purged: dict[str, int] = {}

    def purge_in_batches_of_50() -> None:
        try:
            purged.update(retention.purge(timezone.now(), LIFETIMES, batch_size=50))
        finally:
            connection.close()  # this thread's own connection

    purging = threading.Thread(target=purge_in_batches_of_50)
    purging.start()
    statuses = []
    refresh_token = tokens["refresh_token"]
    with browser(origins) as http:
        while purging.is_alive() or not statuses:
            answer = refresh(refresh_token, http)
            statuses.append(answer.status_code)
            refresh_token = answer.json().get("refresh_token", refresh_token)
    purging.join()
    assert purged["grants (with their tokens)"] == 2000
    assert set(statuses) == {200}


def test_the_command_prints_what_it_purged(db):
    out = StringIO()
    call_command("purge_expired", stdout=out)
    assert "Purged 0 expired rows." in out.getvalue()


def test_the_command_refuses_a_bad_batch_size(db):
    with pytest.raises(CommandError, match="--batch-size"):
        call_command("purge_expired", "--batch-size", "0", stdout=StringIO())
