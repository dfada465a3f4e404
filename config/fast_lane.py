"""Userinfo's everyday answer, given by the RSGI front without Django's request handling.

A plain `GET /oidc/userinfo` with `Authorization: Bearer <token>` is the call a resource
server makes most. Through Django, the view's own work (one prebuilt query and the claims)
was a third of its server CPU: the rest was building the request, the middleware chain, the
response object and its headers (docs/benchmarks.md, issue #13). Here the
front answers that one request shape itself, with the same claims (the view's own functions,
apps.idp.endpoints.userinfo), the same bytes of JSON, the same headers (what Django's
security middleware and ours add, worked out once, and a request id of its own) and the same
metrics. Django's request signals are sent around it, so database connections are opened
and closed as for any request.

Only the 200 is answered here. Anything else goes to Django as before, which has the words
for it: another method, path, host or scheme, a query string, a body, a second or a
non-Bearer Authorization header, and every refusal (unknown, expired or DPoP-bound token,
no openid scope), and an error of any kind on the way.
"""

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable
from io import BytesIO

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.http import HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware

from apps.idp import metrics
from apps.idp.endpoints import userinfo
from apps.idp.errors import oauth_json
from config.body_limits import Answer
from config.origins import netloc

logger = logging.getLogger(__name__)

USERINFO_PATHS = frozenset({"/oidc/userinfo", "/oidc/userinfo/"})  # as apps/idp/urls.py routes


def bearer_token(scope, body: bytes) -> str | None:
    """The token of a request this lane answers, from granian's RSGI scope; None for any
    other request. The same tests as Django and UserinfoView make, in their order of cost."""
    if scope.method != "GET" or scope.path not in USERINFO_PATHS:
        return None
    if scope.query_string or body or scope.scheme != "https":
        return None
    headers = scope.headers
    hosts = headers.get_all("host") or [scope.authority]  # HTTP/2 names it :authority
    if hosts != [netloc(settings.SITE_URL)]:
        return None  # the receiver's origin, a host Django refuses, or two Host headers
    authorization = headers.get_all("authorization")
    if len(authorization) != 1:
        return None
    scheme, _, value = authorization[0].partition(" ")
    if scheme.lower() != userinfo.BEARER or "transfer-encoding" in headers:
        return None
    return value.strip()


@functools.cache
def response_headers() -> tuple[tuple[str, str], ...]:
    """The headers Django gives a userinfo answer over HTTPS, but its length and request id.

    Computed by Django itself, once per process: the view's JSON response, then the
    response side of the middleware that add headers (security headers and X-Frame-Options,
    from settings that do not change while the process runs).
    """
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/oidc/userinfo",
            "wsgi.url_scheme": "https",
            "wsgi.input": BytesIO(),
            "HTTP_HOST": netloc(settings.SITE_URL),
        }
    )
    response = oauth_json({})
    for middleware in (SecurityMiddleware, XFrameOptionsMiddleware):
        response = middleware(lambda request: HttpResponse()).process_response(request, response)
    return tuple((name, value) for name, value in response.items() if name != "Content-Length")


def answer_userinfo(token: str) -> Answer | None:
    """The 200 for `token`, on one of the front's threads (it reads the database); None to
    let Django answer instead. What a request through Django would run around it runs here
    too: the request signals (database connections) and the request metrics."""
    started = time.perf_counter()
    request_started.send(sender=__name__, environ=None)
    try:
        claims = userinfo.bearer_claims(token)
        if claims is None:
            return None
        body = json.dumps(claims, cls=DjangoJSONEncoder).encode()  # as JsonResponse encodes
        headers = [*response_headers(), ("X-Request-ID", str(uuid.uuid4()))]
    except Exception:  # Django then answers: it has the words for a database that is away
        logger.exception("The userinfo fast lane failed; Django answers this request.")
        return None
    finally:
        request_finished.send(sender=__name__)
    metrics.count("userinfo", "", "ok", time.perf_counter() - started)
    return 200, headers, body


def shortcut(scope, body: bytes) -> Callable[[], Answer | None] | None:
    """For config.rsgi: the work that answers this request on a thread, or None for Django."""
    token = bearer_token(scope, body)
    return None if token is None else functools.partial(answer_userinfo, token)
