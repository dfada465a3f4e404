"""The IdP's own pages: a landing page, sign-in and sign-out, and a person's own grants."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.idp import account, audit


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "idp/home.html", {"issuer": settings.OIDC_ISSUER})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"


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
