"""grant_type=client_credentials (RFC 6749 §4.4): confidential clients, on their own behalf."""

from oidc_provider.lib.utils.token import create_token

from apps.idp import dpop_binding
from apps.idp.errors import InvalidScope, UnauthorizedClient
from apps.idp.grants.common import (
    TokenAnswer,
    TokenRequest,
    authenticate_client,
    check_can_sign_for,
    keep_hashes_only,
    token_answer,
)

GRANT_TYPE = "client_credentials"
PARAMS = ("scope",)


def handle(request: TokenRequest) -> TokenAnswer:
    requested = request.param("scope").split()

    client = authenticate_client(request.http)
    if client.client_type == "public":
        # A public client cannot authenticate, so it cannot act on its own behalf.
        raise UnauthorizedClient("Public clients cannot use this grant.")
    check_can_sign_for(client)
    dpop_binding.check_client(request.proof, client)
    allowed = set(client.scope)
    if not allowed or set(requested) - allowed:
        raise InvalidScope("The scope exceeds what this client may get.")

    token = create_token(user=None, client=client, scope=requested or client.scope)
    dpop_binding.bind(request.proof, token, None, client)
    issued = keep_hashes_only(token)
    token.save()
    return token_answer(token, issued)  # no user: no ID token, no refresh token
