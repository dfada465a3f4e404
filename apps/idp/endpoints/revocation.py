"""Token revocation (RFC 7009); public clients authenticate with their client_id alone."""

from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Token

from apps.idp import audit, dpop_binding, policy, writes
from apps.idp.endpoints import FormBodyView, repeated_param
from apps.idp.errors import InvalidRequest, OAuthError, json_error, method_not_allowed, oauth_json
from apps.idp.grants.common import authenticate_client, revoke_grant
from apps.idp.models import Grant

PARAMS = ("token", "token_type_hint", "client_id")


def revoke(request: HttpRequest) -> None:
    """Revoke a refresh token (and its whole grant) or an access token (RFC 7009 §2.1).

    Unknown and malformed tokens are answered like revoked ones (§2.2): the client cannot
    tell. Raises OAuthError.
    """
    form = request.POST
    if repeated := repeated_param(form, PARAMS):
        raise InvalidRequest(f"{repeated} repeated.")
    value = form.get("token", "")
    if not value:
        raise InvalidRequest("token is missing.")
    with writes.write_transaction():
        if dpop_binding.has_proof(request):  # not required, but checked when sent (RFC 9449 §5)
            dpop_binding.check_proof(request)
        oidc_client = authenticate_client(request)
        if policy.is_opaque_value(value):
            revoke_token(oidc_client, value, form.get("token_type_hint", ""))
    audit.record("token.revoked", request, client_id=oidc_client.client_id)


def revoke_token(oidc_client: OIDCClient, value: str, hint: str) -> None:
    stored = policy.token_hash(value)  # the columns keep only this
    by_refresh = Q(refresh_token=stored)
    by_access = Q(access_token=stored)
    lookups = (by_access, by_refresh) if hint == "access_token" else (by_refresh, by_access)
    for lookup in lookups:
        token = (
            Token.objects.select_related("grant_link").filter(lookup, client=oidc_client).first()
        )
        if token is None:
            continue
        grant_link = getattr(token, "grant_link", None)
        if lookup is by_access:
            # An access token alone: end it, keep the refresh token (§2.1 makes that a MAY).
            Token.objects.filter(pk=token.pk).update(expires_at=timezone.now())
        elif grant_link is not None:
            revoke_grant(grant_link.grant_id)
        else:
            token.delete()
        return
    family = policy.refresh_token_family(value)
    grant = Grant.objects.filter(family=family, client=oidc_client).first() if family else None
    if grant is not None:  # an earlier refresh token of the grant: the grant goes
        revoke_grant(grant.pk)


@method_decorator(csrf_exempt, name="dispatch")
class RevocationView(FormBodyView):
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        try:
            revoke(request)
        except OAuthError as error:
            # No challenge: RFC 7009 §2.2.1 names none.
            return dpop_binding.nonce_for_proofs(request, json_error(error))
        return oauth_json({})

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        return method_not_allowed("POST")
