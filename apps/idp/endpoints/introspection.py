"""Token introspection (RFC 7662): the library's endpoint, kept from querying NULs, saying which
tokens are DPoP-bound (RFC 9449 §6.2)."""

from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oidc_provider import views as library
from oidc_provider.lib.endpoints.introspection import TokenIntrospectionEndpoint

from apps.idp import dpop_binding, policy
from apps.idp.endpoints import FormBodyView
from apps.idp.errors import OAuthError
from apps.idp.grants.common import client_credentials


class DPoPAwareIntrospectionEndpoint(TokenIntrospectionEndpoint):
    """The library's answer, plus `token_type` and `cnf.jkt` for a DPoP-bound token (§6.2):
    the resource server then asks the request for a proof of that key."""

    def create_response_dic(self) -> dict:
        answer = super().create_response_dic()
        jkt = dpop_binding.bound_jkt(self.params["token"])  # the value the library found
        if jkt is not None:
            answer |= {"token_type": "DPoP", "cnf": {"jkt": jkt}}
        return answer


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectionView(FormBodyView, library.TokenIntrospectionView):
    """The library's RFC 7662 endpoint, which queries whatever it is sent.

    A NUL in `token` or the secret makes PostgreSQL refuse the query (a 500); such values
    cannot be ours, so they are inactive without a query.
    """

    token_instrospection_endpoint_class = DPoPAwareIntrospectionEndpoint  # (sic, the library's)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            client_id, client_secret = client_credentials(request)  # one method (RFC 6749 §2.3)
        except OAuthError:  # refused like every failed authentication here: inactive
            return self.token_instrospection_endpoint_class.response({"active": False})
        values = (request.POST.get("token", ""), client_id or "", client_secret or "")
        if not all(policy.is_opaque_value(value) for value in values):
            return self.token_instrospection_endpoint_class.response({"active": False})
        return super().post(request, *args, **kwargs)
