"""django-oidc-provider's views, subclassed or replaced where the library falls short.

Each view reads the request, calls `apps.idp.endpoints`, and shapes the response: JSON
with `Cache-Control: no-store` for the back-channel endpoints, pages for the browser.
"""

from email.header import decode_header, make_header
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from oidc_provider import views as library
from oidc_provider.lib.errors import AuthorizeError, ClientIdError, RedirectUriError
from oidc_provider.lib.utils.oauth2 import extract_client_auth

from apps.idp import endpoints, keys, policy

END_SESSION_PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


def oauth_json(body: dict[str, Any], status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"  # RFC 6749 §5.1
    response["Pragma"] = "no-cache"
    return response


class AuthorizeView(library.AuthorizeView):
    """The library's authorization endpoint; every redirect to the client carries `iss`."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.endpoint: endpoints.PublicClientAuthorizeEndpoint | None = None
        query = request.POST if request.method == "POST" else request.GET
        if any(policy.has_control_characters(value) for value in query.getlist("state")):
            # The library would paste it into a Location header: Django refuses (a 500), and
            # no redirect can echo it. No genuine client sends one, so a page explains.
            context = {"error": "invalid_request", "description": "state has control characters."}
            return render(request, "oidc_provider/error.html", context, status=400)
        response = super().dispatch(request, *args, **kwargs)
        return self.with_issuer(response)

    def authorize_endpoint_class(self, request: HttpRequest):
        # Called by the library's get()/post(): keep the endpoint to know the redirect_uri.
        self.endpoint = endpoints.PublicClientAuthorizeEndpoint(request)
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
            description = AuthorizeError(redirect_uri, code, "authorization_code").description
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
            context = {"error": error.error, "description": error.description}
            return render(request, "oidc_provider/error.html", context, status=400)


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(View):
    """RFC 6749 §3.2: POST only; every answer is JSON, errors per §5.2."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        status, body = endpoints.run_token_endpoint(request)
        response = oauth_json(body, status)
        if status == 401:
            response["WWW-Authenticate"] = 'Basic realm="oidc"'
        return response

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        response = oauth_json({"error": "invalid_request", "error_description": "Use POST."}, 405)
        response["Allow"] = "POST"
        return response


@method_decorator(csrf_exempt, name="dispatch")
class RevocationView(TokenView):
    """RFC 7009; public clients authenticate with their client_id alone."""

    def post(self, request: HttpRequest) -> JsonResponse:
        status, body = endpoints.revoke(request)
        return oauth_json(body, status)


@method_decorator(csrf_exempt, name="dispatch")
class UserinfoView(View):
    """OIDC Core §5.3 with RFC 6750 errors; never a 500."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> JsonResponse:
        try:
            return oauth_json(endpoints.userinfo_claims(request))
        except endpoints.BearerRefusal as refusal:
            response = oauth_json(
                {"error": refusal.error, "error_description": refusal.description},
                refusal.status,
            )
            response["WWW-Authenticate"] = (
                f'Bearer error="{refusal.error}", error_description="{refusal.description}"'
            )
            return response

    post = get

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        body = {"error": "invalid_request", "error_description": "Use GET or POST."}
        response = oauth_json(body, 405)
        response["Allow"] = "GET, POST"
        return response


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectionView(library.TokenIntrospectionView):
    """The library's RFC 7662 endpoint, which queries whatever it is sent.

    A NUL in `token` or the secret makes PostgreSQL refuse the query (a 500); such values
    cannot be ours, so they are inactive without a query.
    """

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        client_id, client_secret = extract_client_auth(request)
        values = (request.POST.get("token", ""), client_id or "", client_secret or "")
        if not all(policy.is_opaque_value(value) for value in values):
            return self.token_instrospection_endpoint_class.response({"active": False})
        return super().post(request, *args, **kwargs)


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """The library's JWKS plus our ES256 key, from keys parsed once per process."""
    response = JsonResponse(keys.jwks())
    response["Access-Control-Allow-Origin"] = "*"  # as the library: public keys, any origin
    return response


class ProviderInfoView(library.ProviderInfoView):
    """Discovery (OIDC Discovery §3, RFC 8414) saying only what this IdP actually does."""

    def _build_cache_key(self, request: HttpRequest) -> str:
        # With OIDC_DISCOVERY_CACHE_ENABLE the document is cached under this key. The
        # library's key queries the response types (fixed here); ours names what varies:
        # the site and the signing algorithms, so adding an HS256 client is seen at once.
        return f"idp_discovery:{settings.SITE_URL}:{','.join(signing_algorithms())}"

    def _build_response_dict(self, request: HttpRequest) -> dict[str, Any]:
        meta = super()._build_response_dict(request)
        site = settings.SITE_URL
        meta.update(
            issuer=settings.OIDC_ISSUER,
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=list(endpoints.TokenEndpoint.GRANT_TYPES),
            code_challenge_methods_supported=["S256"],
            scopes_supported=list(policy.SUPPORTED_SCOPES),
            claims_supported=list(policy.CLAIMS_SUPPORTED),
            id_token_signing_alg_values_supported=signing_algorithms(),
            token_endpoint_auth_methods_supported=[
                "none",
                "client_secret_basic",
                "client_secret_post",
            ],
            revocation_endpoint=site + reverse("idp:revoke"),
            revocation_endpoint_auth_methods_supported=[
                "none",
                "client_secret_basic",
                "client_secret_post",
            ],
            authorization_response_iss_parameter_supported=True,
        )
        return meta


def signing_algorithms() -> list[str]:
    """RS256 and ES256 always (the JWKS holds a key for each, a client's jwt_alg picks one);
    HS256 only while a client could get it (confidential, with a secret)."""
    hs256_in_use = (
        library.Client.objects.filter(jwt_alg="HS256", client_type="confidential")
        .exclude(client_secret="")
        .exists()
    )
    return [*keys.ALGORITHMS, "HS256"] if hs256_in_use else list(keys.ALGORITHMS)


@method_decorator(never_cache, name="dispatch")
class EndSessionView(View):
    """RP-Initiated Logout 1.0: a verified `id_token_hint`, and a confirmation before logout.

    A GET never signs anyone out (a link or an image could trigger it): it shows a page whose
    form POSTs back with a CSRF token and `confirm`.
    """

    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        query = request.POST if request.method == "POST" else request.GET
        self.params = {name: query.get(name, "") for name in END_SESSION_PARAMS}
        self.oidc_client = None
        hint = self.params["id_token_hint"]
        if hint:
            try:
                self.oidc_client, _ = endpoints.verify_id_token_hint(hint, settings.OIDC_ISSUER)
            except endpoints.InvalidHint:
                return self.refuse("The id_token_hint is not a valid ID token from this provider.")
        elif policy.is_opaque_value(self.params["client_id"]):
            # Not a query for anything else: a NUL makes PostgreSQL refuse it (a 500).
            self.oidc_client = library.Client.objects.filter(
                client_id=self.params["client_id"]
            ).first()
        redirect_to = self.params["post_logout_redirect_uri"]
        if redirect_to and (
            self.oidc_client is None
            or redirect_to not in self.oidc_client.post_logout_redirect_uris
        ):
            return self.refuse("post_logout_redirect_uri is not registered for this client.")
        return super().dispatch(request, *args, **kwargs)

    def refuse(self, reason: str) -> HttpResponse:
        context = {"error": "invalid_request", "description": reason}
        return render(self.request, "oidc_provider/error.html", context, status=400)

    def next_page(self) -> str | None:
        target = self.params["post_logout_redirect_uri"]
        if not target or not self.params["state"]:
            return target or None
        parts = urlsplit(target)
        query = "&".join(filter(None, [parts.query, urlencode({"state": self.params["state"]})]))
        return urlunsplit(parts._replace(query=query))

    def get(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.finished()
        context = {"client": self.oidc_client, "params": self.params}
        return render(request, "oidc_provider/end_session_confirm.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.POST.get("confirm"):
            return self.get(request)
        if request.user.is_authenticated:
            library.EndSessionView.logout_user(
                request,
                id_token_hint=self.params["id_token_hint"] or None,
                post_logout_redirect_uri=self.params["post_logout_redirect_uri"] or None,
                state=self.params["state"] or None,
                client=self.oidc_client,
                next_page=self.next_page(),
            )
        return self.finished()

    def finished(self) -> HttpResponse:
        next_page = self.next_page()
        if next_page:
            response = HttpResponse(status=302)
            response["Location"] = next_page
            return response
        return render(
            self.request, "oidc_provider/end_session_completed.html", {"client": self.oidc_client}
        )
