"""Token introspection (RFC 7662): the library's endpoint, kept from querying NULs, looking
tokens up by their hash (the only thing `Token.access_token` holds), with the token's RFC 8707
audience, saying which tokens are DPoP-bound (RFC 9449 §6.2)."""

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oidc_provider import views as library
from oidc_provider.lib.endpoints.introspection import (
    INTROSPECTION_SCOPE,
    TokenIntrospectionEndpoint,
)
from oidc_provider.lib.errors import TokenIntrospectionError

from apps.idp import dpop_binding, policy, rfc8707
from apps.idp.endpoints import FormBodyView
from apps.idp.errors import OAuthError
from apps.idp.grants.common import client_credentials
from apps.idp.models import Grant


class IntrospectionEndpoint(TokenIntrospectionEndpoint):
    """The library's endpoint, with what the IdP stores and binds:

    - the token is looked up by its hash, the only thing `Token.access_token` holds;
    - a token asked for a resource (RFC 8707) is answered to a resource server whose scope
      names that resource, and to no other, with the resource as its `aud`. The library
      would answer only servers whose scope holds the ID token's `aud` (a client id, not the
      access token's audience), so a token asked for no resource has no `aud` here;
    - a DPoP-bound token says so, `token_type` and `cnf.jkt` (RFC 9449 §6.2): the resource
      server then asks the request for a proof of that key.
    """

    def _extract_params(self) -> None:
        super()._extract_params()
        self.presented = self.params["token"]  # in clear: a bound token names its key in it
        if self.params["token"]:
            self.params["token"] = policy.token_hash(self.params["token"])

    def validate_params(self) -> None:
        try:
            super().validate_params()
        except TokenIntrospectionError:
            if not self.resource or not self.answers_resource_server():
                raise
        if self.resource and self.resource not in self.client.scope:
            raise TokenIntrospectionError()

    @property
    def resource(self) -> str:
        if not hasattr(self, "_resource"):
            grants = Grant.objects.filter(issued__token=self.token) if self.token else None
            found = grants.values_list("resource", flat=True).first() if grants else None
            self._resource = found or ""
        return self._resource

    def answers_resource_server(self) -> bool:
        """The library's checks but its audience one, passed (it refused for the audience)."""
        client = self.client
        return bool(
            client is not None
            and INTROSPECTION_SCOPE in client.scope
            and self.token is not None
            and not self.token.has_expired()
        )

    def create_response_dic(self) -> dict:
        self.id_token = self.id_token or self.token.id_token
        answer = super().create_response_dic()
        answer.pop("aud", None)
        answer |= rfc8707.audience_claim(self.resource)
        jkt = dpop_binding.bound_jkt(self.presented)  # the value whose hash the library found
        if jkt is not None:
            answer |= {"token_type": "DPoP", "cnf": {"jkt": jkt}}
        return answer


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectionView(FormBodyView, library.TokenIntrospectionView):
    """The library's RFC 7662 endpoint, which queries whatever it is sent.

    A NUL in `token` or the secret makes PostgreSQL refuse the query (a 500); such values
    cannot be ours, so they are inactive without a query.
    """

    token_instrospection_endpoint_class = IntrospectionEndpoint  # (sic, the library's)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            client_id, client_secret = client_credentials(request)  # one method (RFC 6749 §2.3)
        except OAuthError:  # refused like every failed authentication here: inactive
            return self.token_instrospection_endpoint_class.response({"active": False})
        values = (request.POST.get("token", ""), client_id or "", client_secret or "")
        if not all(policy.is_opaque_value(value) for value in values):
            return self.token_instrospection_endpoint_class.response({"active": False})
        return super().post(request, *args, **kwargs)
