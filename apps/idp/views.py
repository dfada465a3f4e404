"""The IdP's own pages: a landing page and the sign-in/sign-out views django-oidc-provider uses."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.idp import sign_in_lockout


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "idp/home.html", {"issuer": settings.OIDC_ISSUER})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"

    def form_valid(self, form):
        response = super().form_valid(form)
        # This browser may now sign in to this account despite a neighbour's failures.
        sign_in_lockout.remember_device(response, form.get_user().get_username())
        return response


class LogoutView(auth_views.LogoutView):
    template_name = "registration/logged_out.html"
