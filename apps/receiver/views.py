"""The registered redirect URI: shows the authorization response to the person at the CLI."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

RESPONSE_PARAMS = ("code", "state", "iss", "error", "error_description")


@never_cache
@require_GET
def show_code(request: HttpRequest) -> HttpResponse:
    """Show the code to copy into pkce_client, or the IdP's error (400)."""
    context = {name: request.GET.get(name, "") for name in RESPONSE_PARAMS}
    status = 200 if context["code"] and not context["error"] else 400
    response = render(request, "receiver/code.html", context, status=status)
    # The code is in this page's URL: keep it out of Referer headers (RFC 9700 §4.2.4).
    response["Referrer-Policy"] = "no-referrer"
    return response
