"""URLs of the IdP origin (https://idp.local:8443 by default)."""

from django.contrib import admin
from django.urls import include, path

from apps.idp import health, views
from apps.idp.endpoints.discovery import AuthorizationServerMetadataView

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("account/grants/", views.grants, name="account-grants"),
    path(
        "account/grants/<int:grant_id>/revoke",
        views.revoke_grant,
        name="account-grant-revoke",
    ),
    path("device", views.device, name="device"),  # RFC 8628 verification_uri
    path("admin/", admin.site.urls),
    # RFC 8414 §3.1: the issuer's path (/oidc) inserted after the well-known prefix; the
    # origin's form too, for clients that look only there.
    path(
        ".well-known/oauth-authorization-server/oidc",
        AuthorizationServerMetadataView.as_view(),
        name="authorization-server-metadata",
    ),
    path(".well-known/oauth-authorization-server", AuthorizationServerMetadataView.as_view()),
    path("oidc/", include("apps.idp.urls")),  # our hardened endpoints first
    path("oidc/", include("oidc_provider.urls", namespace="oidc_provider")),
]

handler500 = "apps.idp.views.server_error"
