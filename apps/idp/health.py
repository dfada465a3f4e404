"""Endpoints for operators: health for load balancers, metrics for Prometheus.

Health is unauthenticated and cheap, so it says nothing beyond ok or failing: no versions, no
error text (a failing dependency is logged, where operators look). Metrics answer loopback
callers, or whoever sends the bearer secret `OIDC_METRICS_TOKEN`.
"""

import ipaddress
import logging
import secrets

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.idp import keys, metrics

logger = logging.getLogger(__name__)


def _status(ok: bool) -> JsonResponse:
    response = JsonResponse({"status": "ok" if ok else "failing"}, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Restart it when this fails."""
    return _status(True)


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and a default (RS256) signing key is loaded.

    A balancer sends traffic elsewhere while this fails; the process recovers by itself.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        has_key = bool(keys.signing_keys("RS256"))
    except DatabaseError:
        logger.warning("readyz: the database does not answer", exc_info=True)
        return _status(False)
    if not has_key:
        logger.warning("readyz: no RS256 signing key (manage.py migrate creates one)")
    return _status(has_key)


def _may_read_metrics(request: HttpRequest) -> bool:
    token = settings.OIDC_METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and secrets.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, added up over the server's worker processes."""
    if not _may_read_metrics(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    body = metrics.exposition(settings.PROMETHEUS_MULTIPROC_DIR)
    response = HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
