"""Token introspection (RFC 7662): the library's endpoint, kept from querying NULs, and
looking tokens up by their hash (the only thing `Token.access_token` holds)."""

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oidc_provider import views as library
from oidc_provider.lib.endpoints.introspection import TokenIntrospectionEndpoint

from apps.idp import policy
from apps.idp.endpoints import FormBodyView
from apps.idp.errors import OAuthError
from apps.idp.grants.common import client_credentials


class HashLookupIntrospectionEndpoint(TokenIntrospectionEndpoint):
    """The library's endpoint, which looks `params["token"]` up as `Token.access_token`: given
    the presented token's hash, it finds the row that keeps only that."""

    def _extract_params(self) -> None:
        super()._extract_params()
        if self.params["token"]:
            self.params["token"] = policy.token_hash(self.params["token"])


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectionView(FormBodyView, library.TokenIntrospectionView):
    """The library's RFC 7662 endpoint, which queries whatever it is sent.

    A NUL in `token` or the secret makes PostgreSQL refuse the query (a 500); such values
    cannot be ours, so they are inactive without a query.
    """

    token_instrospection_endpoint_class = HashLookupIntrospectionEndpoint

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            client_id, client_secret = client_credentials(request)  # one method (RFC 6749 §2.3)
        except OAuthError:  # refused like every failed authentication here: inactive
            return self.token_instrospection_endpoint_class.response({"active": False})
        values = (request.POST.get("token", ""), client_id or "", client_secret or "")
        if not all(policy.is_opaque_value(value) for value in values):
            return self.token_instrospection_endpoint_class.response({"active": False})
        return super().post(request, *args, **kwargs)
