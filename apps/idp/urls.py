"""Endpoints under /oidc/ that replace or add to django-oidc-provider's own (matched first)."""

from django.urls import URLPattern

app_name = "idp"
urlpatterns: list[URLPattern] = []
