"""Endpoints under /oidc/ that replace or add to django-oidc-provider's own (matched first)."""

from django.urls import re_path

from apps.idp.endpoints import (
    authorize,
    device_authorization,
    discovery,
    end_session,
    introspection,
    registration,
    revocation,
    token,
    userinfo,
)

app_name = "idp"
urlpatterns = [
    re_path(r"^authorize/?$", authorize.AuthorizeView.as_view(), name="authorize"),
    re_path(r"^authorize/consent/?$", authorize.ConsentView.as_view(), name="consent"),
    re_path(r"^token/?$", token.TokenView.as_view(), name="token"),
    re_path(
        r"^device_authorization/?$",
        device_authorization.DeviceAuthorizationView.as_view(),
        name="device-authorization",
    ),
    re_path(r"^revoke/?$", revocation.RevocationView.as_view(), name="revoke"),
    re_path(r"^userinfo/?$", userinfo.UserinfoView.as_view(), name="userinfo"),
    re_path(r"^introspect/?$", introspection.IntrospectionView.as_view(), name="introspect"),
    re_path(r"^end-session/?$", end_session.EndSessionView.as_view(), name="end-session"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        discovery.ProviderInfoView.as_view(),
        name="provider-info",
    ),
    re_path(r"^jwks/?$", discovery.jwks, name="jwks"),
    re_path(r"^register/?$", registration.RegistrationView.as_view(), name="register"),
    re_path(
        r"^register/(?P<client_id>[^/]+)$",
        registration.RegistrationClientView.as_view(),
        name="registration-client",
    ),
]
