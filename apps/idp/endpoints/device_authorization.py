"""The device authorization endpoint (RFC 8628 §3.1, §3.2): a device asks for a user code.

A public client names itself with client_id; the answer tells the device what to show the
person (the user code and /device) and how often to poll the token endpoint.
"""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.idp import device, rfc8707, writes
from apps.idp.endpoints import repeated_param
from apps.idp.errors import (
    BASIC_CHALLENGE,
    InvalidRequest,
    OAuthError,
    json_error,
    method_not_allowed,
    oauth_json,
)
from apps.idp.grants.common import authenticate_client

PARAMS = ("client_id", "client_secret", "scope")


@method_decorator(csrf_exempt, name="dispatch")
class DeviceAuthorizationView(View):
    """POST only; every answer is JSON, errors as the token endpoint's (RFC 8628 §3.2)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        try:
            if repeated := repeated_param(request.POST, PARAMS):
                raise InvalidRequest(f"{repeated} was sent more than once.")
            client = authenticate_client(request)
            resource = rfc8707.requested_resource(
                request.POST.getlist(rfc8707.PARAM), settings.OIDC_RESOURCES
            )
            with writes.write_transaction():
                started = device.start(
                    client, request.POST.get("scope", "").split(), timezone.now(), resource
                )
        except OAuthError as error:
            return json_error(error, BASIC_CHALLENGE if error.status == 401 else None)
        return oauth_json(started.body())

    def http_method_not_allowed(self, request: HttpRequest, *args, **kwargs) -> JsonResponse:
        return method_not_allowed("POST")
