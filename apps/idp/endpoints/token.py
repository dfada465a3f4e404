"""The token endpoint (RFC 6749 §3.2): the request's checks, then its grant's handler.

The handler runs in one write transaction (`writes.write_transaction`), unless its grant takes
its own (the refresh: `grants.OWN_TRANSACTION`). A refusal rolls it back; the refusal's
`consequence`, if any, then commits in a transaction of its own. The ID token is signed
after the commit.
"""

from contextlib import AbstractContextManager, nullcontext

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from apps.idp import audit, dpop_binding, grants, writes
from apps.idp.endpoints import FormBodyView, repeated_param
from apps.idp.errors import (
    BASIC_CHALLENGE,
    InvalidRequest,
    OAuthError,
    UnsupportedGrantType,
    json_error,
    method_not_allowed,
    oauth_json,
)
from apps.idp.grants.common import TokenAnswer, TokenRequest, authenticate_client


def respond(request: TokenRequest) -> TokenAnswer:
    """Run the grant the request names; raises OAuthError."""
    if repeated := repeated_param(request.form, grants.PARAMS):
        raise InvalidRequest(f"{repeated} was sent more than once.")
    if dpop_binding.has_proof(request.http):  # RFC 9449 §5: each grant binds to its key
        request.proof = dpop_binding.check_proof(request.http)
    grant_type = request.param("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is missing.")
    handle = grants.REGISTRY.get(grant_type)
    if handle is None:
        authenticate_client(request.http)  # an unknown client hears so first
        raise UnsupportedGrantType("This grant type is not served.")
    return handle(request)


def transaction_for(request: TokenRequest) -> AbstractContextManager:
    if request.param("grant_type") in grants.OWN_TRANSACTION:
        return nullcontext()
    return writes.write_transaction()


def run_with_consequences(request: TokenRequest) -> TokenAnswer:
    """`respond` in a write transaction; a refusal's consequence commits after the rollback,
    and so does the use of its DPoP proof."""
    try:
        with transaction_for(request):
            return respond(request)
    except OAuthError as error:
        # The proof's jti went with the rollback: a refused request's proof is spent too.
        if error.consequence is not None or request.proof is not None:
            with writes.write_transaction():
                if error.consequence is not None:
                    error.consequence()
                if request.proof is not None:
                    dpop_binding.remember_spent(request.proof)
        raise


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(FormBodyView):
    """RFC 6749 §3.2: POST only; every answer is JSON, errors per §5.2."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        try:
            answer = run_with_consequences(TokenRequest(request))
        except OAuthError as error:
            refusal = json_error(error, BASIC_CHALLENGE if error.status == 401 else None)
            return dpop_binding.nonce_for_proofs(request, refusal)
        grant_type = request.POST["grant_type"]  # one the registry serves: it answered
        audit.record(
            "refresh.rotated" if grant_type == "refresh_token" else "tokens.issued",
            request,
            client_id=answer.client.client_id,
            user_id=answer.user_id,
            grant_id=answer.grant_id,
            grant_type=grant_type,
        )
        response = oauth_json(answer.signed())
        return dpop_binding.nonce_for_proofs(request, response)

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        return method_not_allowed("POST")
