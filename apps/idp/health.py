"""Health endpoints for load balancers and orchestrators: is the process up, can it serve?

Unauthenticated and cheap, so they say nothing beyond ok or failing: no versions, no error
text (a failing dependency is logged, where operators look).
"""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from apps.idp import keys

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
