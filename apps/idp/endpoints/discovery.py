"""Discovery (OIDC Discovery §3, RFC 8414) and the JWKS it points to."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET
from oidc_provider import views as library
from oidc_provider.models import Client as OIDCClient

from apps.idp import dpop_binding, grants, keys, policy

CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]


def signing_algorithms() -> list[str]:
    """RS256 and ES256 always (the JWKS holds a key for each, a client's jwt_alg picks one);
    HS256 only while a client could get it (confidential, with a secret)."""
    hs256_in_use = (
        OIDCClient.objects.filter(jwt_alg="HS256", client_type="confidential")
        .exclude(client_secret="")
        .exists()
    )
    return [*keys.ALGORITHMS, "HS256"] if hs256_in_use else list(keys.ALGORITHMS)


class ProviderInfoView(library.ProviderInfoView):
    """The library's discovery document, saying only what this IdP actually does."""

    def _build_cache_key(self, request: HttpRequest) -> str:
        # With OIDC_DISCOVERY_CACHE_ENABLE the document is cached under this key. The
        # library's key queries the response types (fixed here); ours names what varies:
        # the site and the signing algorithms, so adding an HS256 client is seen at once.
        dpop_algs = ",".join(dpop_binding.signing_algorithms())
        return f"idp_discovery:{settings.SITE_URL}:{','.join(signing_algorithms())}:{dpop_algs}"

    def _build_response_dict(self, request: HttpRequest) -> dict[str, Any]:
        meta = super()._build_response_dict(request)
        meta.update(
            issuer=settings.OIDC_ISSUER,
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=list(grants.GRANT_TYPES),
            code_challenge_methods_supported=["S256"],
            scopes_supported=list(policy.SUPPORTED_SCOPES),
            claims_supported=list(policy.CLAIMS_SUPPORTED),
            id_token_signing_alg_values_supported=signing_algorithms(),
            token_endpoint_auth_methods_supported=list(CLIENT_AUTH_METHODS),
            revocation_endpoint=settings.SITE_URL + reverse("idp:revoke"),
            device_authorization_endpoint=settings.SITE_URL + reverse("idp:device-authorization"),
            revocation_endpoint_auth_methods_supported=list(CLIENT_AUTH_METHODS),
            authorization_response_iss_parameter_supported=True,
            dpop_signing_alg_values_supported=list(dpop_binding.signing_algorithms()),
            # Refused with their OIDC errors at authorize (OIDC Discovery §3).
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
            registration_endpoint=settings.SITE_URL + reverse("idp:register"),
            # RFC 8707 registers no metadata name; this one says `resource` is understood
            # (RFC 8414 §2 allows members of an extension) and lists what it may name.
            resource_indicators_supported=True,
            resources_supported=list(settings.OIDC_RESOURCES),
        )
        return meta


class AuthorizationServerMetadataView(ProviderInfoView):
    """RFC 8414 §3: the OpenID discovery document, served whole as OAuth authorization
    server metadata (its OpenID members are allowed extensions, §2; one document means the
    two can never disagree). At /.well-known/oauth-authorization-server/oidc, the issuer's
    path inserted (§3.1), and at the origin's /.well-known/oauth-authorization-server for
    clients that look only there: `issuer` is the same, which a client must still check."""


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """The library's JWKS plus our ES256 key, from keys parsed once per process."""
    response = JsonResponse(keys.jwks())
    response["Access-Control-Allow-Origin"] = "*"  # as the library: public keys, any origin
    return response
