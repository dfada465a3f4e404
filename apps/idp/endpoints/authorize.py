"""The authorization endpoint: the library's, plus PKCE S256, scope policy, code binding and
`iss` on every redirect to the client (RFC 9207).

Our checks raise `OAuthError`; `validate_params` hands them to the library as its
`AuthorizeError`, which its view renders as the redirect to the client (errors in the query:
only the code flow is served, RFC 6749 §4.1.2.1).
"""

import logging
from email.header import decode_header, make_header

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from oidc_provider import views as library
from oidc_provider.lib.endpoints.authorize import AuthorizeEndpoint
from oidc_provider.lib.errors import AuthorizeError, ClientIdError, RedirectUriError
from oidc_provider.models import Code

from apps.idp import policy
from apps.idp.endpoints import repeated_param
from apps.idp.errors import (
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
    error_page,
)
from apps.idp.grants.common import signs_with_empty_key
from apps.idp.models import Grant, LoopbackAwareClient

logger = logging.getLogger(__name__)

PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
)
GRANT_TYPE = "authorization_code"  # what the library's AuthorizeError is told


class PublicClientAuthorizeEndpoint(AuthorizeEndpoint):
    """The library's authorization endpoint plus PKCE S256, scope policy and code binding."""

    client_class = LoopbackAwareClient  # its redirect_uri check: policy.redirect_uri_matches

    def validate_params(self) -> None:
        try:
            super().validate_params()  # client and redirect_uri first: errors there are a page
        except AuthorizeError as error:
            error.grant_type = GRANT_TYPE
            if self.params["response_type"] != "code":
                raise self.redirect_error(UnsupportedResponseType("not the code flow")) from error
            raise
        try:
            self.check_params()
        except OAuthError as error:
            raise self.redirect_error(error) from error

    def redirect_error(self, error: OAuthError) -> AuthorizeError:
        logger.info("authorize refused for client %s: %s", self.client.client_id, error)
        return AuthorizeError(self.params["redirect_uri"], error.error, GRANT_TYPE)

    def check_params(self) -> None:
        """Our rules on top of the library's; raises OAuthError (the description is logged)."""
        if self.params["response_type"] != "code":
            # Tokens in the front channel leak (RFC 9700 §2.1.2): only the code flow is served.
            raise UnsupportedResponseType("response_type other than code")
        query = self.request.POST if self.request.method == "POST" else self.request.GET
        if repeated := repeated_param(query, PARAMS):
            raise InvalidRequest(f"{repeated} sent more than once")
        if signs_with_empty_key(self.client):
            raise UnauthorizedClient("HS256 without a client secret")
        challenge = self.params["code_challenge"]
        method = self.params["code_challenge_method"]
        if self.client.client_type == "public" and not challenge:
            raise InvalidRequest("public client without code_challenge")  # RFC 9700 §2.1.1
        if challenge and (method != "S256" or not policy.is_s256_challenge(challenge)):
            # A missing method means `plain` (RFC 7636 §4.3), refused like an explicit one.
            raise InvalidRequest("code_challenge is not S256")
        nonce, redirect_uri = self.params["nonce"], self.params["redirect_uri"]
        if not (policy.is_printable(nonce) and policy.is_printable(redirect_uri)):
            raise InvalidRequest("nonce not printable or too long")
        granted = policy.grantable_scopes(self.params["scope"], self.client.scope)
        if not granted:
            raise InvalidScope("no scope this client may get")
        self.params["scope"] = granted
        self.is_authentication = "openid" in granted

    def create_code(self) -> Code:
        code = super().create_code()
        Grant.objects.create(
            client=self.client,
            code_hash=policy.token_hash(code.code),
            family=policy.new_family(),
            redirect_uri=self.params["redirect_uri"],
            created_at=timezone.now(),
        )
        return code


class AuthorizeView(library.AuthorizeView):
    """The library's authorization view; every redirect to the client carries `iss`."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.endpoint: PublicClientAuthorizeEndpoint | None = None
        query = request.POST if request.method == "POST" else request.GET
        if any(policy.has_control_characters(value) for value in query.getlist("state")):
            # The library would paste it into a Location header: Django refuses (a 500), and
            # no redirect can echo it. No genuine client sends one, so a page explains.
            return error_page(request, "invalid_request", "state has control characters.")
        response = super().dispatch(request, *args, **kwargs)
        return self.with_issuer(response)

    def authorize_endpoint_class(self, request: HttpRequest) -> PublicClientAuthorizeEndpoint:
        # Called by the library's get()/post(): keep the endpoint to know the redirect_uri.
        self.endpoint = PublicClientAuthorizeEndpoint(request)
        return self.endpoint

    def with_issuer(self, response: HttpResponse) -> HttpResponse:
        endpoint = self.endpoint
        location = response.get("Location", "") if response.status_code == 302 else ""
        # The library pastes `state` into error redirects as is; Django then MIME-encodes a
        # header that is not Latin-1. Decode it: the redirect is rebuilt, percent-encoded.
        location = str(make_header(decode_header(location))) if location else ""
        client = getattr(endpoint, "client", None)
        if not (location and client and endpoint):
            return response
        redirect_uri = endpoint.params["redirect_uri"]
        if redirect_uri not in client.redirect_uris or not policy.same_endpoint(
            location, redirect_uri
        ):
            return response  # the sign-in page, not the client
        description = None
        if "error=" in location:
            code = location.split("error=", 1)[1].split("&", 1)[0]
            description = AuthorizeError(redirect_uri, code, GRANT_TYPE).description
        response["Location"] = policy.authorization_response(
            location, redirect_uri, settings.OIDC_ISSUER, endpoint.params["state"], description
        )
        return response

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Consent belongs to a signed-in user; the library would fail with a 500 here.
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            return super().post(request, *args, **kwargs)
        except (ClientIdError, RedirectUriError) as error:
            # The library's post() catches these on GET only: a tampered form gave a 500.
            return error_page(request, error.error, error.description)
