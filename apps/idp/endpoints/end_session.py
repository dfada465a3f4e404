"""RP-Initiated Logout 1.0: a verified `id_token_hint`, and a confirmation before logout.

A GET never signs anyone out (a link or an image could trigger it): it shows a page whose
form POSTs back with a CSRF token and `confirm`.
"""

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from oidc_provider import views as library
from oidc_provider.models import Client as OIDCClient

from apps.idp import audit, keys, policy
from apps.idp.endpoints import repeated_param
from apps.idp.errors import InvalidHint, error_page
from apps.idp.grants.common import signs_with_empty_key

PARAMS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


def _verification_keys(oidc_client: OIDCClient) -> list[tuple[str | None, Any]]:
    """(kid, key) pairs that may have signed this client's ID tokens, for its jwt_alg.

    RS256 and ES256: the public halves of our keys. HS256: the client secret, as the library
    signs. Any other value in the column: none, so no hint of that client verifies.
    """
    if oidc_client.jwt_alg in keys.ALGORITHMS:
        return [
            (key.kid, key.private_key.public_key())
            for key in keys.signing_keys(oidc_client.jwt_alg)
        ]
    if oidc_client.jwt_alg == "HS256":
        return [(None, oidc_client.client_secret)]
    return []


def verify_id_token_hint(hint: str, issuer: str) -> tuple[OIDCClient, dict[str, Any]]:
    """Verify the hint's signature and issuer; expiry is not checked (RP-Initiated Logout §2).

    Raises InvalidHint.
    """
    try:
        unverified = jwt.decode(hint, options={"verify_signature": False})
        header = jwt.get_unverified_header(hint)
    except jwt.PyJWTError as exc:
        raise InvalidHint("not a JWT") from exc
    audience = unverified.get("aud")
    client_id = audience[0] if isinstance(audience, list) and audience else audience
    if not isinstance(client_id, str) or not policy.is_opaque_value(client_id):
        raise InvalidHint("no audience")
    oidc_client = OIDCClient.objects.filter(client_id=client_id).first()
    if oidc_client is None or signs_with_empty_key(oidc_client):
        raise InvalidHint("unknown client")
    alg = oidc_client.jwt_alg
    if header.get("alg") != alg:
        raise InvalidHint("unexpected algorithm")
    for kid, key in _verification_keys(oidc_client):
        if kid is not None and header.get("kid") not in (None, kid):
            continue
        try:
            claims = jwt.decode(
                hint,
                key=key,
                algorithms=[alg],
                audience=client_id,
                issuer=issuer,
                options={"verify_exp": False, "require": ["iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:
            continue
        return oidc_client, claims
    raise InvalidHint("bad signature or issuer")


@method_decorator(never_cache, name="dispatch")
class EndSessionView(View):
    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        query = request.POST if request.method == "POST" else request.GET
        if repeated := repeated_param(query, tuple(query)):
            # RFC 6749 §3.1, as at authorize: which of two values was meant is anyone's guess.
            return error_page(request, "invalid_request", f"{repeated} is sent more than once.")
        self.params = {name: query.get(name, "") for name in PARAMS}
        self.oidc_client = None
        hint = self.params["id_token_hint"]
        if hint:
            try:
                self.oidc_client, claims = verify_id_token_hint(hint, settings.OIDC_ISSUER)
            except InvalidHint as error:
                return error_page(request, error.error, error.description)
            client_id = self.params["client_id"]
            if client_id and client_id not in policy.audiences(claims):
                # RP-Initiated Logout §2: the OP MUST verify that client_id is the hint's aud.
                return error_page(request, "invalid_request", "client_id is not the hint's.")
        elif policy.is_opaque_value(self.params["client_id"]):
            # Not a query for anything else: a NUL makes PostgreSQL refuse it (a 500).
            self.oidc_client = OIDCClient.objects.filter(client_id=self.params["client_id"]).first()
        redirect_to = self.params["post_logout_redirect_uri"]
        if redirect_to and (
            self.oidc_client is None
            or redirect_to not in self.oidc_client.post_logout_redirect_uris
        ):
            return error_page(
                request,
                "invalid_request",
                "post_logout_redirect_uri is not registered for this client.",
            )
        return super().dispatch(request, *args, **kwargs)

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
            audit.record(
                "session.ended",
                request,
                client_id=self.oidc_client.client_id if self.oidc_client else "",
                user_id=request.user.pk,
            )
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
