"""config/fast_lane.py: userinfo's 200 answered beside Django, as Django would answer it.

Each request is run on this thread, as the front's thread would run it, and its answer is
compared with the one config.wsgi.application gives the same request. As Django's test
client does, the request signals leave the test's database connection (and its open
transaction) alone.
"""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from oidc_provider.models import Token
from prometheus_client import REGISTRY

from apps.idp import policy, token_sql
from config import fast_lane
from config.rsgi import build_environ, run_wsgi
from config.wsgi import application
from tests.config.test_rsgi import Headers, Scope
from tests.dpop_proofs import ProofKey
from tests.idp.oauth import IDP_HOST, authorize, exchange

pytestmark = pytest.mark.django_db


@contextmanager
def connection_kept_for_the_test() -> Iterator[None]:
    """What Django's test client does around a request (and undoes after it, so this is not
    a fixture): the request signals then leave the test's connection alone."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(idp, public_client, person) -> dict:
    answer = exchange(idp, authorize(idp, person))
    assert answer.status_code == 200, answer.content
    return answer.json()


def userinfo_scope(authorization: str | None = None, **changes) -> Scope:
    pairs = [("host", IDP_HOST)]
    if authorization is not None:
        pairs.append(("authorization", authorization))
    return Scope(Headers(*pairs), **{"method": "GET", "path": "/oidc/userinfo", **changes})


def through_django(scope: Scope) -> tuple[int, dict, bytes]:
    with connection_kept_for_the_test():
        status, headers, body = run_wsgi(application, build_environ(scope, b""))
    return status, dict(headers), body


def in_the_lane(scope: Scope, body: bytes = b"") -> tuple[int, dict, bytes] | None:
    """The lane's answer; None when it leaves the request to Django."""
    work = fast_lane.shortcut(scope, body)
    with connection_kept_for_the_test():
        answer = work() if work is not None else None
    if answer is None:
        return None
    status, headers, content = answer
    return status, dict(headers), content


def test_a_bearer_token_gets_the_answer_django_gives_it(tokens):
    scope = userinfo_scope(f"Bearer {tokens['access_token']}")
    django_status, django_headers, django_body = through_django(scope)
    status, headers, body = in_the_lane(scope)

    assert status == django_status == 200
    assert body == django_body
    assert b'"email": "bob@example.com"' in body
    assert str(uuid.UUID(headers.pop("X-Request-ID"))) != django_headers.pop("X-Request-ID")
    assert headers == django_headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["Cache-Control"] == "no-store"


def test_the_answer_is_counted_as_userinfo_ok(tokens):
    labels = {"endpoint": "userinfo", "grant_type": "", "outcome": "ok"}
    before = REGISTRY.get_sample_value("idp_requests_total", labels) or 0
    assert in_the_lane(userinfo_scope(f"Bearer {tokens['access_token']}"))[0] == 200
    assert REGISTRY.get_sample_value("idp_requests_total", labels) == before + 1


def test_the_request_signals_are_sent_around_the_answer(tokens):
    sent = []

    def heard(signal, **kwargs):
        sent.append(signal)

    request_started.connect(heard)
    request_finished.connect(heard)
    try:
        in_the_lane(userinfo_scope(f"Bearer {tokens['access_token']}"))
    finally:
        request_started.disconnect(heard)
        request_finished.disconnect(heard)
    assert sent == [request_started, request_finished]


@pytest.mark.parametrize(
    ("authorization", "changes", "body"),
    [
        pytest.param("Bearer {token}", {"method": "POST"}, b"", id="post"),
        pytest.param("Bearer {token}", {"path": "/oidc/introspect"}, b"", id="another-path"),
        pytest.param("Bearer {token}", {"query_string": "access_token=x"}, b"", id="query"),
        pytest.param("Bearer {token}", {"scheme": "http"}, b"", id="plain-http"),
        pytest.param("Bearer {token}", {}, b"access_token=x", id="a-body"),
        pytest.param("DPoP {token}", {}, b"", id="dpop-scheme"),
        pytest.param("Basic {token}", {}, b"", id="basic-scheme"),
        pytest.param(None, {}, b"", id="no-authorization"),
    ],
)
def test_other_requests_are_left_to_django(tokens, authorization, changes, body):
    header = authorization.format(token=tokens["access_token"]) if authorization else None
    scope = userinfo_scope(header, **changes)
    assert fast_lane.bearer_token(scope, body) is None
    assert fast_lane.shortcut(scope, body) is None


def test_the_receivers_origin_and_unknown_hosts_are_left_to_django(tokens, settings):
    authorization = ("authorization", f"Bearer {tokens['access_token']}")
    for host in ("mysrv.local:8444", "evil.example", "idp.local"):
        scope = Scope(Headers(("host", host), authorization), method="GET", path="/oidc/userinfo")
        assert fast_lane.shortcut(scope, b"") is None, host


def test_two_authorization_or_host_headers_are_left_to_django(tokens):
    bearer = ("authorization", f"Bearer {tokens['access_token']}")
    host = ("host", IDP_HOST)
    for pairs in ((host, bearer, bearer), (host, host, bearer)):
        scope = Scope(Headers(*pairs), method="GET", path="/oidc/userinfo")
        assert fast_lane.shortcut(scope, b"") is None, pairs
    doubled = Scope(Headers(host, host, bearer), method="GET", path="/oidc/userinfo")
    assert through_django(doubled)[0] == 400


def test_an_http2_authority_names_the_host(tokens):
    bearer = ("authorization", f"Bearer {tokens['access_token']}")
    scope = Scope(Headers(bearer), method="GET", path="/oidc/userinfo", authority=IDP_HOST)
    assert in_the_lane(scope)[0] == 200


def test_a_trailing_slash_is_the_same_endpoint(tokens):
    scope = userinfo_scope(f"Bearer {tokens['access_token']}", path="/oidc/userinfo/")
    assert in_the_lane(scope)[0] == 200


def expire(access_token: str) -> None:
    Token.objects.filter(access_token=policy.token_hash(access_token)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def without_openid(access_token: str) -> None:
    Token.objects.filter(access_token=policy.token_hash(access_token)).update(_scope="profile")


@pytest.mark.parametrize("spoil", [expire, without_openid], ids=["expired", "no-openid-scope"])
def test_refusals_are_left_to_django_which_words_them(tokens, spoil):
    spoil(tokens["access_token"])
    scope = userinfo_scope(f"Bearer {tokens['access_token']}")
    assert in_the_lane(scope) is None
    status, headers, _ = through_django(scope)
    assert status in (401, 403) and "WWW-Authenticate" in headers


@pytest.mark.parametrize("value", ["not-one-we-issued", "0" * 64, "", "a b"])
def test_unknown_tokens_are_left_to_django(db, value):
    assert in_the_lane(userinfo_scope(f"Bearer {value}")) is None


def test_a_dpop_bound_token_sent_as_bearer_is_left_to_django(idp, public_client, person):
    key = ProofKey()
    proof = {"HTTP_DPOP": key.proof("POST", "https://idp.local:8443/oidc/token")}
    bound = exchange(idp, authorize(idp, person), **proof).json()["access_token"]
    scope = userinfo_scope(f"Bearer {bound}")
    assert in_the_lane(scope) is None
    assert through_django(scope)[0] == 401


def test_a_database_error_is_logged_and_left_to_django(tokens, monkeypatch, caplog):
    def away(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(token_sql, "token_for_userinfo", away)
    with caplog.at_level(logging.ERROR, logger="config.fast_lane"):
        assert in_the_lane(userinfo_scope(f"Bearer {tokens['access_token']}")) is None
    assert "Django answers this request" in caplog.text
    assert tokens["access_token"] not in caplog.text
