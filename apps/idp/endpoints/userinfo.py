"""Userinfo (OIDC Core §5.3) with RFC 6750 errors, and DPoP-bound tokens (RFC 9449 §7); never
a 500.

The token is read by `token_sql.token_for_userinfo`: one prebuilt query for the token, its
client's id and the user's userinfo columns. Whether it is DPoP-bound is in its value
(apps.idp.dpop_binding): a Bearer request reads nothing more.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oidc_provider.models import Token
from oidc_provider.settings import get as library_setting

from apps.idp import dpop_binding, policy, token_sql, writes
from apps.idp.claims import StandardClaims
from apps.idp.endpoints import FormBodyView
from apps.idp.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    UseDPoPNonce,
    bearer_challenge,
    dpop_challenge,
    json_error,
    method_not_allowed,
    oauth_json,
)

BEARER, DPOP = "bearer", "dpop"  # the Authorization schemes served, lower case


class SenderRefused(Exception):
    """A refusal about DPoP (RFC 9449 §7.1): a 401 with a DPoP challenge, not a Bearer one."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(error.description)
        self.error = error


def presented_token(request: HttpRequest) -> tuple[str, str]:
    """The access token and its scheme (BEARER or DPOP), from the Authorization header or a
    form body (RFC 6750 §2.1, §2.2; RFC 9449 §7.1).

    Tokens in the query string are refused: they end up in logs (RFC 9700 §4.3.2).
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    in_body = request.method == "POST" and "access_token" in request.POST
    if "access_token" in request.GET:
        raise InvalidRequest("Send the token in the Authorization header.")
    if header:
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme not in (BEARER, DPOP) or in_body:
            raise InvalidRequest("Use one Bearer or DPoP token.")
        return value.strip(), scheme
    if in_body:
        if len(request.POST.getlist("access_token")) > 1:
            raise InvalidRequest("Use one Bearer token.")
        return request.POST["access_token"], BEARER
    raise InvalidToken("An access token is required.")


def check_sender(request: HttpRequest, value: str, scheme: str) -> None:
    """RFC 9449 §7: a bound token only as `DPoP`, with a fresh proof of its key for this
    request (`ath` of this token); the `DPoP` scheme only for a bound token. Raises
    SenderRefused."""
    if scheme == BEARER:
        check_bearer(value)
        return
    jkt = dpop_binding.bound_jkt(value)
    if jkt is None:
        raise SenderRefused(InvalidToken("This access token is not DPoP-bound: send it as Bearer."))
    try:
        with writes.write_transaction():  # the proof's jti is recorded
            proof = dpop_binding.check_proof(request, access_token=value)
    except OAuthError as error:
        raise SenderRefused(error) from error
    if proof is None:
        raise SenderRefused(InvalidDPoPProof("A DPoP token needs a DPoP proof."))
    if proof.jkt != jkt:
        raise SenderRefused(InvalidDPoPProof("The DPoP proof's key is not the token's."))


def check_bearer(value: str) -> None:
    """RFC 9449 §7.2: a DPoP-bound token is refused as Bearer, a copied bound token being
    worthless without the key. Raises SenderRefused."""
    if dpop_binding.bound_jkt(value) is not None:
        raise SenderRefused(InvalidToken("This access token is DPoP-bound: send it as DPoP."))


def invalid_token(scheme: str) -> Exception:
    """What to raise for a token nobody issued, or that expired (made only then: an
    exception's making is a measurable share of a userinfo call)."""
    invalid = InvalidToken("The access token is invalid or expired.")
    return SenderRefused(invalid) if scheme == DPOP else invalid


def live_token(value: str, scheme: str) -> Token:
    """The token named by `value`: issued here, unexpired and with a user (a token from
    client_credentials has no userinfo). Raises invalid_token(scheme)."""
    if not policy.is_opaque_value(value):
        raise invalid_token(scheme)
    token = token_sql.token_for_userinfo(policy.token_hash(value))
    if token is None or token.has_expired() or token.user is None:
        raise invalid_token(scheme)
    return token


def claims_of(token: Token) -> dict[str, Any]:
    """The claims a live token's scopes grant; raises InsufficientScope without `openid`."""
    if "openid" not in token.scope:
        raise InsufficientScope("The token lacks the openid scope.")
    claims = {"sub": (token.id_token or {}).get("sub") or str(token.user.pk)}
    claims.update(StandardClaims(token).create_response_dic())
    if library_setting("OIDC_EXTRA_SCOPE_CLAIMS"):
        extra = library_setting("OIDC_EXTRA_SCOPE_CLAIMS", import_str=True)(token)
        claims.update(extra.create_response_dic())
    return claims


def userinfo_claims(request: HttpRequest) -> dict[str, Any]:
    """The claims of the token's user; raises OAuthError or SenderRefused."""
    value, scheme = presented_token(request)
    token = live_token(value, scheme)
    check_sender(request, value, scheme)
    return claims_of(token)


def bearer_claims(value: str) -> dict[str, Any] | None:
    """The claims for `value` sent as `Authorization: Bearer`, when the answer is 200; None
    when it is a refusal (unknown, expired, DPoP-bound, no openid scope), which only
    UserinfoView words. For config.fast_lane, which answers the 200s alone."""
    try:
        token = live_token(value, BEARER)
        check_bearer(value)
        return claims_of(token)
    except (OAuthError, SenderRefused):
        return None


@method_decorator(csrf_exempt, name="dispatch")
class UserinfoView(FormBodyView):
    http_method_names = ["get", "post"]

    def refuse(self, error: OAuthError) -> JsonResponse:
        return json_error(error, bearer_challenge(error))

    def get(self, request: HttpRequest) -> JsonResponse:
        try:
            return oauth_json(userinfo_claims(request))
        except OAuthError as error:
            return json_error(error, bearer_challenge(error))
        except SenderRefused as refused:
            return dpop_refusal(refused.error)

    post = get

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        return method_not_allowed("GET, POST")


def dpop_refusal(error: OAuthError) -> JsonResponse:
    """RFC 9449 §7.1: 401, a DPoP challenge naming the accepted algorithms, and a nonce to
    use when the proof lacked it (§9)."""
    error.status = 401
    response = json_error(error, dpop_challenge(error, dpop_binding.signing_algorithms()))
    return dpop_binding.with_nonce(response) if isinstance(error, UseDPoPNonce) else response
