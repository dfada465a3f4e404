"""The library's client admin, offering ES256 and refusing HS256 for public clients."""

from django import forms
from django.contrib import admin
from oidc_provider.admin import ClientAdmin, ClientForm
from oidc_provider.models import Client as OIDCClient

from apps.idp import keys, services
from apps.idp.models import ECKey

JWT_ALG_CHOICES = [
    ("RS256", "RS256"),
    ("ES256", "ES256 (cheaper signatures, for RPs that verify ES256)"),
    ("HS256", "HS256 (confidential clients only)"),
]


class PublicClientSafeForm(ClientForm):
    # The library's model lists HS256 and RS256 only. Declared here and excluded from the
    # model form, the field is checked against these choices and not the model's (Django
    # skips model validation of such fields); clean() puts the value on the instance.
    jwt_alg = forms.ChoiceField(
        choices=JWT_ALG_CHOICES,
        label="JWT Algorithm",
        help_text="Algorithm used to sign ID Tokens (id_token_signed_response_alg).",
    )

    class Meta(ClientForm.Meta):
        exclude = ["jwt_alg"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The library's form makes it optional, and an empty value used to keep the stored
        # one: a confidential HS256 client switched to public with it blank kept HS256.
        self.fields["jwt_alg"].required = True
        self.initial.setdefault("jwt_alg", self.instance.jwt_alg)  # RS256 for a new client

    def clean(self):
        cleaned = super().clean()
        jwt_alg = cleaned.get("jwt_alg", "")
        try:
            services.refuse_weak_signing(cleaned.get("client_type", ""), jwt_alg)
        except services.SeedError as exc:
            self.add_error("jwt_alg" if "jwt_alg" in cleaned else None, str(exc))
        if jwt_alg:
            self.instance.jwt_alg = jwt_alg
        for field in ("_redirect_uris", "_post_logout_redirect_uris"):
            uris = cleaned.get(field, "").splitlines()
            try:
                services.refuse_unsafe_redirect_uris([uri for uri in uris if uri.strip()])
            except services.SeedError as exc:
                self.add_error(field, str(exc))
        return cleaned


admin.site.unregister(OIDCClient)


@admin.register(OIDCClient)
class SafeClientAdmin(ClientAdmin):
    form = PublicClientSafeForm


@admin.register(ECKey)
class ECKeyAdmin(admin.ModelAdmin):
    """ES256 keys: added as freshly generated keys, never typed in, and never shown.

    A pasted PEM that is not a P-256 key would stop every ES256 signature; a private key on a
    page can leak. Rotate as with RSA keys: add a key, let OIDC_SIGNING_KEYS_TTL_SECONDS
    pass, then delete the old one once ID tokens it signed have expired (the oldest signs).
    """

    fields = ["kid"]
    readonly_fields = ["kid"]
    list_display = ["__str__", "kid"]

    @admin.display(description="Key ID (kid)")
    def kid(self, obj: ECKey) -> str:
        return keys.ec_kid(obj.key) if obj.key else "(made when you save)"

    def save_model(self, request, obj: ECKey, form, change: bool) -> None:
        if not obj.key:
            obj.key = services.new_es256_pem()
        super().save_model(request, obj, form, change)
