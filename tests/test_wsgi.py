"""config.wsgi: back-channel endpoints take the lean middleware stack, pages the whole one."""

from urllib.parse import urlsplit

import pytest
from django.core.signals import request_finished
from django.urls import resolve

from config import wsgi

BACK_CHANNEL = (
    "/oidc/token",
    "/oidc/token/",
    "/oidc/userinfo",
    "/oidc/revoke",
    "/oidc/introspect",
    "/oidc/jwks",
    "/oidc/device_authorization",
    "/oidc/.well-known/openid-configuration",
    "/oidc/register",
    "/oidc/register/some-client",
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/oidc",
    "/healthz",
    "/readyz",
)
PAGES = (
    "/oidc/authorize",
    "/oidc/end-session",
    "/device",  # the person's page: sessions, CSRF, sign-in
    "/oidc/token/x",
    "/accounts/login/",
    "/admin/",
    "/",
    "/static/admin/css/base.css",
    "/x/oidc/token",
)


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_back_channel_paths_take_the_lean_stack(path):
    assert wsgi.BACK_CHANNEL_PATH.match(path)


RECEIVER_BACK_CHANNEL = (
    "/api/profile",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/api/profile",
)


@pytest.mark.parametrize("path", RECEIVER_BACK_CHANNEL)
def test_the_receiver_api_takes_the_lean_stack_and_needs_no_csrf_check(path, rf, settings):
    assert wsgi.BACK_CHANNEL_PATH.match(path)
    view = resolve(path, urlconf=settings.RECEIVER_URLCONF).func
    assert getattr(view, "csrf_exempt", False) or view(rf.post(path)).status_code == 405


@pytest.mark.parametrize("path", PAGES)
def test_pages_take_the_whole_stack(path):
    assert not wsgi.BACK_CHANNEL_PATH.match(path)


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_back_channel_views_need_no_csrf_check(path, rf):
    # Without CsrfViewMiddleware a view that relied on it would lose its protection: each is
    # exempt, or refuses every unsafe method.
    view = resolve(path).func
    assert getattr(view, "csrf_exempt", False) or view(rf.post(path)).status_code == 405


def test_the_lean_stack_keeps_the_security_headers(origins, https, settings):
    answer = https.post(f"{origins.idp_url}/oidc/token", data={}, timeout=10)
    assert answer.status_code == 400
    assert answer.headers["Cache-Control"] == "no-store"
    assert f"max-age={settings.SECURE_HSTS_SECONDS}" in answer.headers["Strict-Transport-Security"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in answer.headers


def test_the_lean_stack_keeps_origin_routing(origins, https):
    answer = https.post(f"{origins.receiver_url}oidc/token", data={}, timeout=10)
    assert answer.status_code == 404


def test_back_channel_answers_are_one_bytes_object_after_the_request_finished(db, rf, settings):
    # One piece, so the server writes it with a Content-Length; request_finished (database
    # connections past CONN_MAX_AGE closed) has run, since the server has nothing to close.
    finished = []

    def on_finished(**kwargs):
        finished.append(True)

    environ = rf.get("/healthz", HTTP_HOST=urlsplit(settings.SITE_URL).netloc).environ
    statuses = []
    request_finished.connect(on_finished)
    try:
        body = wsgi.application(environ, lambda status, headers: statuses.append(status))
    finally:
        request_finished.disconnect(on_finished)
    assert statuses == ["200 OK"]
    assert isinstance(body, list) and len(body) == 1
    assert b'"status": "ok"' in body[0]
    assert finished == [True]


def test_back_channel_paths_are_resolved_once_per_urlconf(db, rf, settings):
    def status_of(path: str, origin: str) -> str:
        environ = rf.get(path, HTTP_HOST=urlsplit(origin).netloc).environ
        statuses = []
        wsgi.application(environ, lambda status, headers: statuses.append(status))
        return statuses[0]

    wsgi.resolve_path.cache_clear()
    assert status_of("/healthz", settings.SITE_URL) == "200 OK"
    assert status_of("/healthz", settings.SITE_URL) == "200 OK"
    assert wsgi.resolve_path.cache_info().hits == 1
    # The receiver's origin has its own URLconf: the IdP's match is not reused there.
    assert status_of("/healthz", settings.RECEIVER_URL) == "404 Not Found"
    assert status_of("/healthz", settings.RECEIVER_URL) == "404 Not Found"
    assert wsgi.resolve_path.cache_info().hits == 1  # a 404 is resolved again each time
