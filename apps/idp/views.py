"""The IdP's own pages: a landing page and the sign-in/sign-out views django-oidc-provider uses."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "idp/home.html", {"issuer": settings.OIDC_ISSUER})


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"


class LogoutView(auth_views.LogoutView):
    template_name = "registration/logged_out.html"
