"""django-oidc-provider's views, subclassed where the library falls short."""

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from oidc_provider import views as library

from apps.idp import keys


class AuthorizeView(library.AuthorizeView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Consent belongs to a signed-in user; the library would fail with a 500 here.
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().post(request, *args, **kwargs)


@require_GET
def jwks(request: HttpRequest) -> HttpResponse:
    """The library's JWKS, from keys parsed once per process instead of on every request."""
    response = JsonResponse(keys.jwks())
    response["Access-Control-Allow-Origin"] = "*"  # as the library: public keys, any origin
    return response
