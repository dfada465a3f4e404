"""The library's client admin, refusing HS256 for public clients."""

from django.contrib import admin
from oidc_provider.admin import ClientAdmin, ClientForm
from oidc_provider.models import Client as OIDCClient

from apps.idp import services


class PublicClientSafeForm(ClientForm):
    def clean(self):
        cleaned = super().clean()
        try:
            services.refuse_weak_signing(cleaned.get("client_type", ""), cleaned.get("jwt_alg", ""))
        except services.SeedError as exc:
            self.add_error("jwt_alg", str(exc))
        return cleaned


admin.site.unregister(OIDCClient)


@admin.register(OIDCClient)
class SafeClientAdmin(ClientAdmin):
    form = PublicClientSafeForm
