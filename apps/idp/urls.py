"""Endpoints under /oidc/ that replace or add to django-oidc-provider's own (matched first)."""

from django.urls import re_path

from apps.idp import oidc_views

app_name = "idp"
urlpatterns = [
    re_path(r"^authorize/?$", oidc_views.AuthorizeView.as_view(), name="authorize"),
    re_path(r"^jwks/?$", oidc_views.jwks, name="jwks"),
]
