"""The IdP's own pages: a landing page, sign-in and sign-out, and a person's own grants."""

import logging
import sys

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import defaults
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.idp import account, audit, reauthentication, rfc8628, sign_in_lockout
from apps.idp import device as device_grants
from apps.idp.errors import TemporarilyUnavailable, json_error

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # how soon a client may try again while the database is away
# Endpoints under /oidc/ whose callers are programs expecting OAuth JSON; the others are pages.
PAGES_UNDER_OIDC = ("/oidc/authorize", "/oidc/end-session")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "idp/home.html", {"issuer": settings.OIDC_ISSUER})


class LoginView(auth_views.LoginView):
    """Sign-in. Someone already signed in is asked for credentials too (prompt=login): the
    session stays theirs until the new sign-in succeeds, which records its time."""

    template_name = "registration/login.html"
    redirect_authenticated_user = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["reauthenticate"] = self.request.GET.get("reauthenticate") == "1"
        return context

    def form_valid(self, form) -> HttpResponse:
        response = super().form_valid(form)
        reauthentication.record_sign_in(self.request)
        # This browser may now sign in to this account despite a neighbour's failures.
        sign_in_lockout.remember_device(response, form.get_user().get_username())
        return response


class LogoutView(auth_views.LogoutView):
    template_name = "registration/logged_out.html"


@login_required
@require_http_methods(["GET", "HEAD"])
def grants(request: HttpRequest) -> HttpResponse:
    """The applications this person allowed, each with a button that takes it back."""
    return render(request, "idp/grants.html", {"grants": account.grants_of(request.user)})


@login_required
@require_POST
def revoke_grant(request: HttpRequest, grant_id: int) -> HttpResponse:
    with transaction.atomic():
        revoked = account.revoke_grant_of(request.user, grant_id)
    if revoked:
        audit.record("grant.revoked_by_user", request, user_id=request.user.pk, grant_id=grant_id)
        messages.success(request, "Access revoked: that application can no longer refresh.")
    else:
        messages.error(request, "That grant is not one of yours, or was already revoked.")
    return redirect("account-grants")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that does not answer is a 503 to retry, never a bare 500.

    Programs get the OAuth JSON error `temporarily_unavailable` (RFC 6749 §5.2 lists it for
    the authorization endpoint; OAuth clients read it anywhere), people a page; both carry
    Retry-After. Anything else is Django's plain 500 page.
    """
    error = sys.exc_info()[1]
    if not isinstance(error, DatabaseError):
        return defaults.server_error(request)
    logger.error("database unavailable: answering 503 (%s)", type(error).__name__)
    if request.path.startswith("/oidc/") and not request.path.startswith(PAGES_UNDER_OIDC):
        unavailable = TemporarilyUnavailable(
            "The IdP cannot reach its database; try again shortly."
        )
        response: HttpResponse = json_error(unavailable)
    else:
        response = render(request, "idp/unavailable.html", status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


WRONG_CODE = "That code is not valid, or it has expired. Check the code your device shows."
TOO_MANY_WRONG_CODES = (
    "Too many wrong codes: wait 15 minutes before trying again, and check the code your "
    "device shows."
)
DEVICE_ALLOWED = "Done: your device is signed in. You can close this page and go back to it."
DEVICE_DENIED = "Access denied: your device will not be signed in."


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def device(request: HttpRequest) -> HttpResponse:
    """RFC 8628 §3.3: the person types the device's user code, then allows or denies it.

    GET shows the form (pre-filled from verification_uri_complete). A POST with a code shows
    the consent page; one with a `decision` answers. Wrong codes count against the person,
    and too many in the window stop the lookups (§5.1).
    """
    if request.method != "POST":
        return render(request, "idp/device.html", {"user_code": request.GET.get("user_code", "")})
    typed = request.POST.get("user_code", "")
    now = timezone.now()
    if device_grants.is_locked_out(request.user, now):
        return device_page(request, typed, TOO_MANY_WRONG_CODES, status=429, locked=True)
    decision = request.POST.get("decision")
    with transaction.atomic():
        authorization = device_grants.pending_for(typed, now, lock=decision is not None)
        if authorization is None:
            device_grants.record_wrong_code(request.user, now)
        elif decision == "allow":
            grant = device_grants.approve(authorization, request.user, now)
            audit.record(
                "device.approved",
                request,
                client_id=authorization.client.client_id,
                user_id=request.user.pk,
                grant_id=grant.pk,
            )
        elif decision is not None:
            device_grants.deny(authorization, request.user)
            audit.record(
                "device.denied",
                request,
                client_id=authorization.client.client_id,
                user_id=request.user.pk,
            )
    if authorization is None:
        return device_page(request, typed, WRONG_CODE, status=400)
    if decision is None:
        context = {
            "client": authorization.client,
            "scopes": device_grants.scopes_shown(authorization),
            "user_code": rfc8628.display_user_code(authorization.user_code),
            "resource": authorization.resource,
        }
        return render(request, "idp/device_consent.html", context)
    done = DEVICE_ALLOWED if decision == "allow" else DEVICE_DENIED
    return render(request, "idp/device.html", {"done": done})


def device_page(
    request: HttpRequest, typed: str, error: str, *, status: int, locked: bool = False
) -> HttpResponse:
    context = {"user_code": typed[:20], "error": error, "locked": locked}
    return render(request, "idp/device.html", context, status=status)
