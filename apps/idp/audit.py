"""Audit events: one JSON line per security event, on the `idp.audit` logger.

Each line names the event, when, which client, user and grant, from which address, and the
request id (also sent back as `X-Request-ID`), so one person's sign-in can be followed across
lines. Ids only: never a code, token, secret or password; the log's redaction filter is on
this logger's handler too.
"""

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from apps.idp import sign_in_lockout

logger = logging.getLogger("idp.audit")

# One encoder for every line: json.dumps(..., default=str) builds a new one per call.
_ENCODE = json.JSONEncoder(default=str).encode

ADMIN_ACTIONS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def record(
    event: str,
    request: HttpRequest | None = None,
    *,
    client_id: str = "",
    user_id: int | str | None = None,
    grant_id: int | None = None,
    **details: Any,
) -> None:
    """Write one audit line. `details` must be ids, counts or names, never a secret."""
    line = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "event": event,
        "client_id": client_id,
        "user_id": user_id,
        "grant_id": grant_id,
        "source": (sign_in_lockout.client_address(request) or "") if request is not None else "",
        "request_id": getattr(request, "request_id", "") if request is not None else "",
        **details,
    }
    if logger.isEnabledFor(logging.INFO):
        # What logger.info() does, less its walk up the stack to find the caller: that is
        # always this function, so its file, line and name are given (one refresh: make bench).
        entry = logger.makeRecord(
            logger.name, logging.INFO, __file__, _RECORD_LINE, _ENCODE(line), None, None, "record"
        )
        logger.handle(entry)


_RECORD_LINE = record.__code__.co_firstlineno


def tag_requests(get_response: Callable[[HttpRequest], HttpResponse]):
    """Middleware: a request id of our own (a client-sent one could be anything)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        request.request_id = str(uuid.uuid4())  # dashed: not the 32-hex shape logs redact
        response = get_response(request)
        response["X-Request-ID"] = request.request_id
        return response

    return middleware


@receiver(user_logged_in)
def _signed_in(sender, request, user, **kwargs) -> None:
    record("sign_in.succeeded", request, user_id=user.pk)


@receiver(user_login_failed)
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # The username someone typed may be a password typed in the wrong box: not logged.
    record("sign_in.failed", request)


@receiver(user_locked_out)
def _locked_out(sender, request, **kwargs) -> None:
    record("sign_in.locked_out", request)


@receiver(post_save, sender=LogEntry)
def _admin_changed(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    record(
        "admin.change",
        user_id=instance.user_id,
        action=ADMIN_ACTIONS.get(instance.action_flag, str(instance.action_flag)),
        model=instance.content_type.model if instance.content_type else "",
        object_id=instance.object_id,
    )
