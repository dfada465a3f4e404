"""URLs of the receiver origin (https://mysrv.local:8444 by default): the redirect URI, and
the protected API with its resource metadata (RFC 9728)."""

from django.urls import path

from apps.receiver import api, views

app_name = "receiver"
urlpatterns = [
    path("", views.show_code, name="code"),
    path("api/profile", api.profile, name="profile"),
    path(
        ".well-known/oauth-protected-resource",
        api.protected_resource_metadata,
        name="protected-resource-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource/api/profile",
        api.api_resource_metadata,
        name="api-resource-metadata",
    ),
]
