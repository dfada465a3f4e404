"""Endpoints under /oidc/ that replace or add to django-oidc-provider's own (matched first)."""

from django.urls import re_path

from apps.idp import oidc_views

app_name = "idp"
urlpatterns = [
    re_path(r"^authorize/?$", oidc_views.AuthorizeView.as_view(), name="authorize"),
    re_path(r"^token/?$", oidc_views.TokenView.as_view(), name="token"),
    re_path(r"^revoke/?$", oidc_views.RevocationView.as_view(), name="revoke"),
    re_path(r"^userinfo/?$", oidc_views.UserinfoView.as_view(), name="userinfo"),
    re_path(r"^introspect/?$", oidc_views.IntrospectionView.as_view(), name="introspect"),
    re_path(r"^end-session/?$", oidc_views.EndSessionView.as_view(), name="end-session"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        oidc_views.ProviderInfoView.as_view(),
        name="provider-info",
    ),
    re_path(r"^jwks/?$", oidc_views.jwks, name="jwks"),
]
