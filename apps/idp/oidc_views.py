"""django-oidc-provider's views, subclassed where the library falls short."""

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from oidc_provider import views as library


class AuthorizeView(library.AuthorizeView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Consent belongs to a signed-in user; the library would fail with a 500 here.
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().post(request, *args, **kwargs)
