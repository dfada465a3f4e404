"""grant_type=authorization_code: RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.8.2."""

import logging
from functools import partial

from django.conf import settings
from oidc_provider.lib.utils.token import create_token
from oidc_provider.models import Code

from apps.idp import audit, dpop_binding, policy, rfc8707
from apps.idp.errors import InvalidGrant, InvalidRequest
from apps.idp.grants.common import (
    TokenAnswer,
    TokenRequest,
    authenticate_client,
    check_can_sign_for,
    consume_code,
    issue,
    revoke_grant,
)
from apps.idp.models import Grant

logger = logging.getLogger(__name__)

GRANT_TYPE = "authorization_code"
PARAMS = ("code", "redirect_uri", "code_verifier")
INVALID = "The code is invalid, expired or already used."


def handle(request: TokenRequest) -> TokenAnswer:
    value, redirect_uri = request.param("code"), request.param("redirect_uri")
    verifier = request.form.get("code_verifier")

    client = authenticate_client(request.http)
    check_can_sign_for(client)
    dpop_binding.check_client(request.proof, client)
    if not value:
        raise InvalidRequest("code is missing.")
    if not redirect_uri:
        raise InvalidRequest("redirect_uri is missing.")
    if not policy.is_opaque_value(value):
        raise InvalidGrant(INVALID)

    code_hash = policy.token_hash(value)  # the code's row and its grant keep only this
    code = (
        Code.objects.select_for_update()
        .select_related("user")
        .filter(code=code_hash, client=client)
        .first()
    )
    grant = Grant.objects.filter(code_hash=code_hash, client=client).first()

    if code is None:
        if grant is not None and grant.exchanged_at is not None:
            # A replayed code: whoever holds it, the tokens issued from it are revoked.
            logger.warning("code replay for grant %s: grant revoked", grant.pk)
            audit.record(
                "code.replay_detected", request.http, client_id=client.client_id, grant_id=grant.pk
            )
            raise InvalidGrant(INVALID, consequence=partial(revoke_grant, grant.pk))
        raise InvalidGrant(INVALID)
    if grant is None or grant.revoked_at is not None or code.has_expired():
        raise InvalidGrant(INVALID)
    if redirect_uri != grant.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the authorization request's.")
    check_verifier(code, verifier, public=client.client_type == "public", grant=grant)
    rfc8707.token_request_resource(
        request.form.getlist(rfc8707.PARAM), grant.resource, settings.OIDC_RESOURCES
    )
    dpop_binding.check_grant(request.proof, grant, client, request.http)  # dpop_jkt (§10)

    claimed = Grant.objects.filter(pk=grant.pk, exchanged_at__isnull=True).update(
        exchanged_at=request.now, last_used_at=request.now, scope=" ".join(code.scope)
    )
    deleted, _ = Code.objects.filter(pk=code.pk).delete()
    if claimed != 1 or deleted != 1:
        raise InvalidGrant(INVALID)  # another request exchanged it first
    token = create_token(user=code.user, client=client, scope=code.scope)
    token.refresh_token = policy.new_refresh_token(grant.family)
    return issue(
        request, token, grant, user=code.user, nonce=code.nonce, openid=code.is_authentication
    )


def check_verifier(code: Code, verifier: str | None, *, public: bool, grant: Grant) -> None:
    """RFC 7636 §4.6 for S256. A refusal uses the code up: no second try with another verifier."""
    used_up = partial(consume_code, code.pk, grant.pk)
    if code.code_challenge:
        if not (
            code.code_challenge_method == "S256"
            and verifier is not None
            and policy.verifier_matches(verifier, code.code_challenge)
        ):
            raise InvalidGrant("code_verifier does not match.", consequence=used_up)
    elif verifier is not None or public:
        # A verifier for a code issued without a challenge is a downgrade (RFC 9700 §4.8.2).
        raise InvalidGrant("This code was issued without PKCE.", consequence=used_up)
