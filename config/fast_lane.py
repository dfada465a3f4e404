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

The token endpoint's POSTs on the IdP's origin over HTTPS go the other way round: all of
them are answered here, by the token view itself (`answer_token`), with what the back-channel
middleware would do around it done here (config.wsgi.BACK_CHANNEL_MIDDLEWARE: a request id,
the metrics, the security headers; the origin is checked before). The view's answer is
Django's own, refusals included, so nothing of the grants' logic is written twice; only
Django's handler and the middleware chain are skipped (in one process, a third of a
refresh's Python time outside its signature: docs/benchmarks.md). Should the view raise,
Django runs the request again and answers it: every grant writes in one transaction,
rolled back by then.
"""

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable
from io import BytesIO

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.handlers.wsgi import WSGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import get_resolver, set_urlconf
from django.utils.log import log_response

from apps.idp import metrics
from apps.idp.endpoints import userinfo
from apps.idp.errors import oauth_json
from config.body_limits import Answer
from config.origins import netloc
from config.wsgi import resolve_path
from config.wsgi_environ import build_environ

logger = logging.getLogger(__name__)

USERINFO_PATHS = frozenset({"/oidc/userinfo", "/oidc/userinfo/"})  # as apps/idp/urls.py routes
TOKEN_PATHS = frozenset({"/oidc/token", "/oidc/token/"})


def on_the_idps_origin(scope) -> bool:
    """HTTPS, and one Host (or HTTP/2 authority) naming the IdP, one that ALLOWED_HOSTS
    allows: what route_by_origin lets through to the IdP's URLs (Django's get_host refuses
    the others), and what SecurityMiddleware lets through without a redirect."""
    if scope.scheme != "https":
        return False
    hosts = scope.headers.get_all("host") or [scope.authority]  # HTTP/2 names it :authority
    if hosts != [netloc(settings.SITE_URL)]:  # not the receiver, a stranger, or two
        return False
    return _allowed(hosts[0], tuple(settings.ALLOWED_HOSTS), settings.DEBUG)


@functools.lru_cache(maxsize=8)
def _allowed(host: str, allowed_hosts: tuple[str, ...], debug: bool) -> bool:
    """HttpRequest.get_host's test of `host`, for these settings."""
    if debug and not allowed_hosts:
        allowed_hosts = (".localhost", "127.0.0.1", "[::1]")
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts)


def bearer_token(scope, body: bytes) -> str | None:
    """The token of a request this lane answers, from granian's RSGI scope; None for any
    other request. The same tests as Django and UserinfoView make, in their order of cost."""
    if scope.method != "GET" or scope.path not in USERINFO_PATHS:
        return None
    if scope.query_string or body or not on_the_idps_origin(scope):
        return None
    headers = scope.headers
    authorization = headers.get_all("authorization")
    if len(authorization) != 1:
        return None
    scheme, _, value = authorization[0].partition(" ")
    if scheme.lower() != userinfo.BEARER or "transfer-encoding" in headers:
        return None
    return value.strip()


@functools.cache
def middleware_headers() -> tuple[tuple[str, str], ...]:
    """The headers the back-channel middleware add to any answer over HTTPS, but the request
    id: SecurityMiddleware's and X-Frame-Options, in the order they add them, worked out by
    that middleware once per process (their settings do not change while it runs)."""
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/oidc/token",
            "wsgi.url_scheme": "https",
            "wsgi.input": BytesIO(),
            "HTTP_HOST": netloc(settings.SITE_URL),
        }
    )
    response = HttpResponse()
    own = set(response.headers)
    for middleware in (XFrameOptionsMiddleware, SecurityMiddleware):  # innermost first
        response = middleware(lambda request: HttpResponse()).process_response(request, response)
    return tuple((name, value) for name, value in response.items() if name not in own)


@functools.cache
def response_headers() -> tuple[tuple[str, str], ...]:
    """The headers Django gives a userinfo answer over HTTPS, but its length and request id:
    the view's JSON response's own, then the middleware's."""
    view_headers = oauth_json({}).items()
    return (
        *((name, value) for name, value in view_headers if name != "Content-Length"),
        *middleware_headers(),
    )


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


def answer_token(scope, body: bytes) -> Answer | None:
    """The token view's answer to this request, on one of the front's threads; None to let
    Django answer instead (the view raised). Around the view, what Django's handler and the
    back-channel middleware would do: the request signals, a request id, the metrics."""
    started = time.perf_counter()
    request_started.send(sender=__name__, environ=None)
    try:
        set_urlconf(settings.ROOT_URLCONF)  # as Django's handler: the thread may have served
        # the receiver's origin last, under its URLconf
        request = WSGIRequest(build_environ(scope, body))
        request.request_id = str(uuid.uuid4())  # as audit.tag_requests names it
        view = resolve_path(get_resolver(), request.path_info).func
        response = view(request)
        content = response.content
    except (SuspiciousOperation, BadRequest):  # a request Django's handler answers with 400
        return None
    except Exception:  # Django then answers: the grant's transaction has been rolled back
        logger.exception("The token endpoint's fast lane failed; Django answers this request.")
        return None
    finally:
        request_finished.send(sender=__name__)
    if response.status_code >= 400:  # Django's handler logs each refusal on django.request
        log_response(
            "%s: %s", response.reason_phrase, request.path, response=response, request=request
        )
    headers = [
        *((name, value) for name, value in response.items() if name != "Content-Length"),
        *(("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values()),
        *middleware_headers(),
        ("X-Request-ID", request.request_id),
    ]
    metrics.count(
        "token",
        metrics.grant_type_of(request, "token"),
        metrics.outcome_of(response),
        time.perf_counter() - started,
    )
    return response.status_code, headers, content


def shortcut(scope, body: bytes) -> Callable[[], Answer | None] | None:
    """For config.rsgi: the work that answers this request on a thread, or None for Django."""
    token = bearer_token(scope, body)
    if token is not None:
        return functools.partial(answer_userinfo, token)
    if scope.method == "POST" and scope.path in TOKEN_PATHS and on_the_idps_origin(scope):
        return functools.partial(answer_token, scope, body)
    return None
