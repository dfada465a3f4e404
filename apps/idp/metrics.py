"""Prometheus metrics of the IdP: requests by endpoint, grant and outcome; sign-ins.

With `PROMETHEUS_MULTIPROC_DIR` set (make serve does), prometheus_client keeps each worker
process's values in files there and `/metrics` adds them up, so the figures are the whole
server's whichever worker answers the scrape. Labels take values from fixed lists only: a
client cannot grow the number of series by sending odd paths, grant types or errors.
"""

import json
import logging
import time
from collections.abc import Callable

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.idp import keys

logger = logging.getLogger(__name__)

ENDPOINTS = {
    "/oidc/token": "token",
    "/oidc/userinfo": "userinfo",
    "/oidc/revoke": "revocation",
    "/oidc/introspect": "introspection",
    "/oidc/jwks": "jwks",
    "/oidc/.well-known/openid-configuration": "discovery",
    "/oidc/authorize": "authorize",
    "/oidc/authorize/consent": "consent",
    "/oidc/end-session": "end_session",
    "/oidc/device_authorization": "device_authorization",
    "/device": "device_verification",
    "/accounts/login": "login",
}
GRANT_TYPES = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
)
# RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1: the codes an outcome may name.
OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        "invalid_token",
        "insufficient_scope",
        "unsupported_token_type",
        "login_required",
        "consent_required",
        "interaction_required",
        "authorization_pending",
        "slow_down",
        "expired_token",
    }
)

REQUESTS = Counter(
    "idp_requests_total",
    "Requests to the IdP's endpoints, by grant type and outcome (ok, or the OAuth error).",
    ["endpoint", "grant_type", "outcome"],
)
LATENCY = Histogram(
    "idp_request_duration_seconds",
    "Time from the request reaching Django to its response, by endpoint.",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SIGN_INS = Counter("idp_sign_ins_total", "Sign-ins at the IdP, by outcome.", ["outcome"])
REFRESH_REUSE = Counter(
    "idp_refresh_reuse_detected_total",
    "Rotated refresh tokens presented again: each revoked its grant (RFC 9700 §4.14.2).",
)


def endpoint_of(path: str) -> str:
    return ENDPOINTS.get(path.rstrip("/"), "other")


def outcome_of(response: HttpResponse) -> str:
    """`ok`, the OAuth error code of a JSON error or an error redirect, or `http_<status>`."""
    if response.status_code >= 400 and response.get("Content-Type", "").startswith(
        "application/json"
    ):
        try:
            error = json.loads(response.content).get("error")
        except (ValueError, AttributeError):
            error = None
        return error if error in OAUTH_ERRORS else f"http_{response.status_code}"
    location = response.get("Location", "") if response.status_code in (302, 303) else ""
    if "error=" in location:
        error = location.split("error=", 1)[1].split("&", 1)[0]
        return error if error in OAUTH_ERRORS else "error"
    return "ok" if response.status_code < 400 else f"http_{response.status_code}"


def grant_type_of(request: HttpRequest, endpoint: str) -> str:
    if endpoint != "token" or request.method != "POST":
        return ""
    try:
        grant_type = request.POST.get("grant_type", "")
    except (RequestDataTooBig, TooManyFieldsSent):  # a body the view refused unread
        return "other"
    return grant_type if grant_type in GRANT_TYPES else "other"


def count(endpoint: str, grant_type: str, outcome: str, seconds: float) -> None:
    """One request to a known endpoint: its count and its latency."""
    LATENCY.labels(endpoint).observe(seconds)
    REQUESTS.labels(endpoint, grant_type, outcome).inc()


def count_requests(get_response: Callable[[HttpRequest], HttpResponse]):
    """Middleware: one count and one latency observation per request to a known endpoint."""

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = get_response(request)
        endpoint = endpoint_of(request.path_info)
        if endpoint != "other":
            seconds = time.perf_counter() - started
            count(endpoint, grant_type_of(request, endpoint), outcome_of(response), seconds)
        return response

    return middleware


class SigningKeyAge(Collector):
    """Read at scrape time from the database: the same for every worker."""

    def collect(self):
        family = GaugeMetricFamily(
            "idp_signing_key_age_seconds",
            "Age of the key that signs ID tokens, by algorithm: rotate before it grows old.",
            labels=["alg"],
        )
        try:
            ages = keys.signing_key_ages(time.time())
        except DatabaseError:
            logger.warning("metrics: signing key ages unavailable (database)")
            ages = {}
        for alg, age in sorted(ages.items()):
            family.add_metric([alg], age)
        yield family


def exposition(multiprocess_dir: str) -> bytes:
    """The text format of every metric, added up over the worker processes when there are."""
    if multiprocess_dir:
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted, path=multiprocess_dir)
    else:
        counted = REGISTRY
    from_database = CollectorRegistry()
    from_database.register(SigningKeyAge())
    return generate_latest(counted) + generate_latest(from_database)


@receiver(user_logged_in)
def _signed_in(**kwargs) -> None:
    SIGN_INS.labels("ok").inc()


@receiver(user_login_failed)
def _sign_in_failed(**kwargs) -> None:
    SIGN_INS.labels("failed").inc()


@receiver(user_locked_out)
def _locked_out(**kwargs) -> None:
    SIGN_INS.labels("locked").inc()
