"""Dynamic client registration (RFC 7591) and its management (RFC 7592: read, delete).

POST /oidc/register registers a public native client (the rules: apps.idp.registration)
and answers with its client_id and a registration access token. That token, sent as a
bearer token to the client's `registration_client_uri`, reads (GET) or deletes (DELETE)
the registration; it is kept as a SHA-256 hash and compared in constant time, and each
read replaces it with a new one (RFC 7592 §3 answers with the token, §2.1 lets it change).
Registrations are limited per client address (OIDC_REGISTRATION_LIMIT per
OIDC_REGISTRATION_WINDOW_SECONDS), counted from the registrations themselves.
"""

import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oidc_provider.models import Client as OIDCClient

from apps.idp import audit, policy, registration, services, writes
from apps.idp.errors import InvalidToken, OAuthError, json_error, method_not_allowed, oauth_json
from apps.idp.models import RegisteredClient
from apps.idp.sign_in_lockout import client_address

JSON_MEDIA_TYPE = "application/json"
MAX_BODY_BYTES = 16 * 1024


def registration_client_uri(client_id: str) -> str:
    return settings.SITE_URL + reverse("idp:registration-client", args=[client_id])


class TooManyRegistrations(OAuthError):
    error = "temporarily_unavailable"  # RFC 7591 defines no code for this; 429 says it
    status = 429


def check_rate(address: str | None) -> None:
    since = timezone.now() - timedelta(seconds=settings.OIDC_REGISTRATION_WINDOW_SECONDS)
    recent = RegisteredClient.objects.filter(address=address, registered_at__gt=since).count()
    if not registration.registrations_left(recent, settings.OIDC_REGISTRATION_LIMIT):
        raise TooManyRegistrations("Too many registrations from this address: try again later.")


def register(request: HttpRequest, metadata: registration.ClientMetadata) -> tuple[dict, str]:
    """Create the client and its registration row; (the answer's metadata, the token)."""
    address = client_address(request)
    check_rate(address)
    token = secrets.token_urlsafe(32)
    oidc_client = OIDCClient.objects.create(
        client_id=services.new_client_id(),
        name=metadata.client_name,
        client_type="public",
        client_secret="",
        jwt_alg="RS256",
        _redirect_uris="\n".join(metadata.redirect_uris),
        _scope=" ".join(metadata.scope),
        require_consent=True,
        reuse_consent=False,
    )
    if metadata.response_types:
        oidc_client.response_types.set([services.response_type("code")])
    registered = RegisteredClient.objects.create(
        client=oidc_client,
        access_token_hash=policy.token_hash(token),
        address=address,
        registered_at=timezone.now(),
        grant_types=" ".join(metadata.grant_types),
    )
    return answer_for(oidc_client, registered), token


def answer_for(oidc_client: OIDCClient, registered: RegisteredClient) -> dict:
    metadata = registration.ClientMetadata(
        client_name=oidc_client.name,
        redirect_uris=tuple(oidc_client._redirect_uris.splitlines()),
        grant_types=tuple(registered.grant_types.split()),
        scope=tuple(oidc_client.scope),
    )
    return {
        "client_id": oidc_client.client_id,
        "client_id_issued_at": int(registered.registered_at.timestamp()),
        "registration_client_uri": registration_client_uri(oidc_client.client_id),
        **metadata.as_json(),
    }


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(View):
    """RFC 7591 §3: POST a JSON object of client metadata; 201 with the client's id."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        try:
            metadata = registration.parse_metadata(
                self.read_body(request),
                receiver_url=settings.RECEIVER_URL,
                supported_scopes=policy.SUPPORTED_SCOPES,
            )
            with writes.write_transaction():
                body, token = register(request, metadata)
        except OAuthError as error:
            response = json_error(error)
            if error.status == 429:
                response["Retry-After"] = str(settings.OIDC_REGISTRATION_WINDOW_SECONDS)
            return response
        audit.record("client.registered", request, client_id=body["client_id"])
        return oauth_json({**body, "registration_access_token": token}, status=201)

    @staticmethod
    def read_body(request: HttpRequest) -> object:
        if request.content_type != JSON_MEDIA_TYPE:
            raise registration.InvalidClientMetadata(f"Send the metadata as {JSON_MEDIA_TYPE}.")
        if len(request.body) > MAX_BODY_BYTES:
            raise registration.InvalidClientMetadata("The metadata is too large.")
        try:
            return json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise registration.InvalidClientMetadata("The body is not JSON.") from None

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        return method_not_allowed("POST")


def bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


NOT_AUTHORIZED = InvalidToken("The registration access token is not valid for this client.")


def authorized_registration(request: HttpRequest, client_id: str) -> RegisteredClient:
    """The registration `client_id` names, if the request's bearer token is its registration
    access token; raises InvalidToken (the same answer for an unknown client, RFC 7592 §3)."""
    token = bearer_token(request)
    registered = None
    if token and policy.is_opaque_value(token) and policy.is_opaque_value(client_id):
        registered = (
            RegisteredClient.objects.select_related("client")
            .filter(client__client_id=client_id)
            .first()
        )
    presented = policy.token_hash(token)
    stored = registered.access_token_hash if registered else policy.token_hash("")
    if not secrets.compare_digest(presented, stored) or registered is None:
        raise NOT_AUTHORIZED
    return registered


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationClientView(View):
    """RFC 7592: the registration, read with GET or deleted with DELETE (no update)."""

    http_method_names = ["get", "delete"]

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method.lower() not in self.http_method_names:
            return method_not_allowed("GET, DELETE")
        try:
            self.registered = authorized_registration(request, kwargs["client_id"])
        except OAuthError as error:
            return json_error(error, f'Bearer error="{error.error}"')
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, client_id: str) -> JsonResponse:
        """RFC 7592 §3 requires the token in the answer, and only its hash is kept: a new
        one replaces it (§2.1 allows that; the client must keep the new one)."""
        token = secrets.token_urlsafe(32)
        with writes.write_transaction():
            replaced = RegisteredClient.objects.filter(
                pk=self.registered.pk, access_token_hash=self.registered.access_token_hash
            ).update(access_token_hash=policy.token_hash(token))
        if replaced != 1:  # a concurrent read or delete used the token first
            return json_error(NOT_AUTHORIZED, f'Bearer error="{NOT_AUTHORIZED.error}"')
        body = answer_for(self.registered.client, self.registered)
        return oauth_json({**body, "registration_access_token": token})

    def delete(self, request: HttpRequest, client_id: str) -> HttpResponse:
        with writes.write_transaction():
            # Its grants, codes and tokens go with it (foreign keys on delete cascade).
            OIDCClient.objects.filter(pk=self.registered.client_id).delete()
        audit.record("client.deleted", request, client_id=client_id)
        return HttpResponse(status=204)
