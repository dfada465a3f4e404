"""Userinfo (OIDC Core §5.3) with RFC 6750 errors; never a 500.

The token is read by `token_sql.token_for_userinfo`: one prebuilt query for the token, its
client's id and the user's userinfo columns.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oidc_provider.settings import get as library_setting

from apps.idp import policy, token_sql
from apps.idp.claims import StandardClaims
from apps.idp.endpoints import FormBodyView
from apps.idp.errors import (
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    bearer_challenge,
    json_error,
    method_not_allowed,
    oauth_json,
)


def bearer_token(request: HttpRequest) -> str:
    """The access token from the Authorization header or a form body (RFC 6750 §2.1, §2.2).

    Tokens in the query string are refused: they end up in logs (RFC 9700 §4.3.2).
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    in_body = request.method == "POST" and "access_token" in request.POST
    if "access_token" in request.GET:
        raise InvalidRequest("Send the token in the Authorization header.")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or in_body:
            raise InvalidRequest("Use one Bearer token.")
        return value.strip()
    if in_body:
        if len(request.POST.getlist("access_token")) > 1:
            raise InvalidRequest("Use one Bearer token.")
        return request.POST["access_token"]
    raise InvalidToken("An access token is required.")


def userinfo_claims(request: HttpRequest) -> dict[str, Any]:
    """The claims of the token's user; raises OAuthError."""
    value = bearer_token(request)
    invalid = InvalidToken("The access token is invalid or expired.")
    if not policy.is_opaque_value(value):
        raise invalid
    token = token_sql.token_for_userinfo(value)
    if token is None or token.has_expired() or token.user is None:
        raise invalid  # a token with no user (client_credentials) has no userinfo
    if "openid" not in token.scope:
        raise InsufficientScope("The token lacks the openid scope.")
    claims = {"sub": (token.id_token or {}).get("sub") or str(token.user.pk)}
    claims.update(StandardClaims(token).create_response_dic())
    if library_setting("OIDC_EXTRA_SCOPE_CLAIMS"):
        extra = library_setting("OIDC_EXTRA_SCOPE_CLAIMS", import_str=True)(token)
        claims.update(extra.create_response_dic())
    return claims


@method_decorator(csrf_exempt, name="dispatch")
class UserinfoView(FormBodyView):
    http_method_names = ["get", "post"]

    def refuse(self, error: OAuthError) -> JsonResponse:
        return json_error(error, bearer_challenge(error))

    def get(self, request: HttpRequest) -> JsonResponse:
        try:
            return oauth_json(userinfo_claims(request))
        except OAuthError as error:
            return json_error(error, bearer_challenge(error))

    post = get

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        return method_not_allowed("GET, POST")
