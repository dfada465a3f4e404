"""config/fast_lane.py: userinfo's 200 and the token endpoint answered beside Django's
handler, as Django would answer them.

Each request is run on this thread, as the front's thread would run it, and its answer is
compared with the one config.wsgi.application gives the same request. As Django's test
client does, the request signals leave the test's database connection (and its open
transaction) alone.
"""

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections
from django.urls import reverse, set_urlconf
from django.utils import timezone
from oidc_provider.models import Token
from prometheus_client import REGISTRY

from apps.idp import policy, token_sql
from apps.idp.endpoints import token as token_endpoint
from apps.idp.models import Grant
from config import fast_lane
from config.rsgi import run_wsgi
from config.wsgi import application
from config.wsgi_environ import build_environ
from tests.config.test_rsgi import Headers, Scope
from tests.dpop_proofs import ProofKey
from tests.idp import oauth
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


def through_django(scope: Scope, body: bytes = b"") -> tuple[int, dict, bytes]:
    with connection_kept_for_the_test():
        status, headers, content = run_wsgi(application, build_environ(scope, body))
    return status, dict(headers), content


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
    assert list(headers) == list(django_headers)  # in the order Django sends them
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


# --- the token endpoint


def token_scope(*extra: tuple[str, str], **changes) -> Scope:
    headers = Headers(("host", IDP_HOST), ("content-type", oauth.FORM), *extra)
    return Scope(headers, **{"method": "POST", "path": "/oidc/token", **changes})


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def refresh_form(refresh_token: str, **more: str) -> bytes:
    return form(
        grant_type="refresh_token", refresh_token=refresh_token, client_id=oauth.CLIENT_ID, **more
    )


def without_request_id(headers: dict) -> dict:
    assert uuid.UUID(headers["X-Request-ID"])
    return {name: value for name, value in headers.items() if name != "X-Request-ID"}


def test_a_refresh_in_the_lane_answers_as_django_does(tokens):
    status, headers, body = in_the_lane(token_scope(), refresh_form(tokens["refresh_token"]))
    rotated = json.loads(body)
    django_status, django_headers, django_body = through_django(
        token_scope(), refresh_form(rotated["refresh_token"])
    )

    assert status == django_status == 200
    assert list(without_request_id(headers)) == list(without_request_id(django_headers))
    assert {name: value for name, value in headers.items() if name != "X-Request-ID"} == {
        name: value for name, value in django_headers.items() if name != "X-Request-ID"
    }
    assert rotated.keys() == json.loads(django_body).keys()
    assert headers["Cache-Control"] == "no-store"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    # The lane's rotation is stored: the token it replaced is spent.
    assert through_django(token_scope(), refresh_form(tokens["refresh_token"]))[0] == 400


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(refresh_form("not-one-we-issued"), id="unknown-refresh-token"),
        pytest.param(form(refresh_token="x", client_id=oauth.CLIENT_ID), id="no-grant-type"),
        pytest.param(form(grant_type="password", client_id=oauth.CLIENT_ID), id="password"),
        pytest.param(refresh_form("x", client_secret="guess"), id="public-client-secret"),
        pytest.param(refresh_form("x") + b"&grant_type=refresh_token", id="repeated-param"),
        pytest.param(b"", id="no-body"),
    ],
)
def test_refusals_in_the_lane_are_djangos_byte_for_byte(db, public_client, body):
    status, headers, content = in_the_lane(token_scope(), body)
    django_status, django_headers, django_content = through_django(token_scope(), body)

    assert status == django_status and status in (400, 401)
    assert content == django_content and b'"error"' in content
    assert without_request_id(headers) == without_request_id(django_headers)


def test_a_form_in_another_media_type_is_refused_as_django_refuses_it(db, public_client):
    scope = token_scope()
    scope.headers = Headers(("host", IDP_HOST), ("content-type", "application/json"))
    body = b'{"grant_type": "refresh_token"}'
    assert in_the_lane(scope, body)[:3:2] == through_django(scope, body)[:3:2]


def test_reuse_of_a_token_the_lane_rotated_revokes_the_grant(tokens, settings):
    settings.OIDC_REFRESH_REUSE_GRACE_SECONDS = 0
    first = json.loads(in_the_lane(token_scope(), refresh_form(tokens["refresh_token"]))[2])

    status, _, content = in_the_lane(token_scope(), refresh_form(tokens["refresh_token"]))

    assert (status, json.loads(content)["error"]) == (400, "invalid_grant")
    assert through_django(token_scope(), refresh_form(first["refresh_token"]))[0] == 400
    assert Grant.objects.get().revoked_at is not None


def test_the_lanes_refresh_is_counted_and_audited(tokens, caplog):
    labels = {"endpoint": "token", "grant_type": "refresh_token", "outcome": "ok"}
    before = REGISTRY.get_sample_value("idp_requests_total", labels) or 0
    with caplog.at_level(logging.INFO, logger="audit"):
        headers = in_the_lane(token_scope(), refresh_form(tokens["refresh_token"]))[1]
    assert REGISTRY.get_sample_value("idp_requests_total", labels) == before + 1
    assert '"event": "refresh.rotated"' in caplog.text
    assert headers["X-Request-ID"] in caplog.text


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"method": "GET"}, id="get"),
        pytest.param({"scheme": "http"}, id="plain-http"),
        pytest.param({"path": "/oidc/revoke"}, id="another-endpoint"),
    ],
)
def test_other_requests_to_the_token_path_are_left_to_django(db, changes):
    assert fast_lane.shortcut(token_scope(**changes), form(grant_type="refresh_token")) is None


def test_the_token_endpoint_of_another_origin_is_left_to_django(db):
    for host in ("mysrv.local:8444", "evil.example"):
        scope = Scope(Headers(("host", host), ("content-type", oauth.FORM)))
        assert fast_lane.shortcut(scope, form(grant_type="refresh_token")) is None, host


def test_a_failure_in_the_view_is_logged_and_left_to_django_with_nothing_written(
    tokens, monkeypatch, caplog
):
    def away(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(token_sql, "rotate", away)
    with caplog.at_level(logging.ERROR, logger="config.fast_lane"):
        assert in_the_lane(token_scope(), refresh_form(tokens["refresh_token"])) is None
    assert "Django answers this request" in caplog.text
    assert tokens["refresh_token"] not in caplog.text
    monkeypatch.undo()
    assert through_django(token_scope(), refresh_form(tokens["refresh_token"]))[0] == 200


def test_too_many_fields_get_the_views_refusal_as_through_django(db, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    body = form(grant_type="refresh_token", a="1", b="2", c="3")
    status, _, content = in_the_lane(token_scope(), body)
    assert (status, content) == through_django(token_scope(), body)[::2]
    assert json.loads(content)["error"] == "invalid_request"


def test_a_host_that_allowed_hosts_leaves_out_is_left_to_django(tokens, settings):
    settings.ALLOWED_HOSTS = ["somewhere.else"]  # SITE_URL's host, not allowed: a 400 page
    for scope, body in (
        (token_scope(), refresh_form(tokens["refresh_token"])),
        (userinfo_scope(f"Bearer {tokens['access_token']}"), b""),
    ):
        assert fast_lane.shortcut(scope, body) is None
        assert through_django(scope, body)[0] == 400


def test_the_view_runs_under_the_idps_urls_whatever_the_thread_served_last(
    tokens, monkeypatch, settings
):
    reversed_in_the_view = []
    record = token_endpoint.audit.record

    def recording(*args, **kwargs):
        reversed_in_the_view.append(reverse("idp:token"))
        return record(*args, **kwargs)

    monkeypatch.setattr(token_endpoint.audit, "record", recording)
    set_urlconf(settings.RECEIVER_URLCONF)  # a receiver request ran on this thread before
    try:
        status = in_the_lane(token_scope(), refresh_form(tokens["refresh_token"]))[0]
    finally:
        set_urlconf(None)
    assert status == 200
    assert reversed_in_the_view == ["/oidc/token"]


def test_a_refusal_is_logged_on_django_request_as_djangos_handler_logs_it(public_client, caplog):
    body = refresh_form("not-one-we-issued")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        in_the_lane(token_scope(), body)
        lane_lines = [record.getMessage() for record in caplog.records]
        caplog.clear()
        through_django(token_scope(), body)
        django_lines = [record.getMessage() for record in caplog.records]
    assert lane_lines == django_lines == ["Bad Request: /oidc/token"]
