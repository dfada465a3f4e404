"""The library's client admin, offering ES256 and refusing HS256 for public clients."""

import hashlib

from django import forms
from django.contrib import admin
from oidc_provider.admin import ClientAdmin, ClientForm
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, RSAKey, Token

from apps.idp import keys, policy, services
from apps.idp.models import ECKey

JWT_ALG_CHOICES = [
    ("RS256", "RS256"),
    ("ES256", "ES256 (cheaper signatures, for RPs that verify ES256)"),
    ("HS256", "HS256 (confidential clients only)"),
]


NONE_ISSUED_HELP = (
    "None. A public client has none (RFC 6749 §2.1). A confidential client gets one made "
    "when it is saved, shown here by its fingerprint only."
)


class PublicClientSafeForm(ClientForm):
    # The library's model lists HS256 and RS256 only. Declared here and excluded from the
    # model form, the field is checked against these choices and not the model's (Django
    # skips model validation of such fields); clean() puts the value on the instance.
    jwt_alg = forms.ChoiceField(
        choices=JWT_ALG_CHOICES,
        label="JWT Algorithm",
        help_text="Algorithm used to sign ID Tokens (id_token_signed_response_alg).",
    )

    # Kept beside the library's Client (apps.idp.models.DPoPClientPolicy), saved by the admin.
    require_dpop = forms.BooleanField(
        required=False,
        label="Require DPoP",
        help_text="Refuse this client's token requests that carry no DPoP proof: every token "
        "it gets is then bound to its key (RFC 9449).",
    )

    class Meta(ClientForm.Meta):
        exclude = ["jwt_alg"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The library's form makes it optional, and an empty value used to keep the stored
        # one: a confidential HS256 client switched to public with it blank kept HS256.
        self.fields["jwt_alg"].required = True
        # The secret is a password: once made it is never put in the page again (a screen,
        # a screenshot, a proxy's log), only its fingerprint. Read it from the shell when
        # handing it over: Client.objects.get(client_id=...).client_secret.
        secret = self.fields["client_secret"]
        secret.widget = forms.PasswordInput(render_value=False, attrs={"disabled": "true"})
        if self.instance.client_secret:
            secret.help_text = f"Fingerprint {fingerprint(self.instance.client_secret)}"
        else:  # an empty box alone reads as a secret still to be typed in
            secret.help_text = NONE_ISSUED_HELP
        self.initial.setdefault("jwt_alg", self.instance.jwt_alg)  # RS256 for a new client
        if self.instance.pk:
            self.initial.setdefault("require_dpop", services.requires_dpop(self.instance))

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


for library_model in (OIDCClient, Code, Token, RSAKey):
    admin.site.unregister(library_model)


@admin.register(OIDCClient)
class SafeClientAdmin(ClientAdmin):
    form = PublicClientSafeForm

    def get_fieldsets(self, request, obj=None):
        # The library's fieldsets name its model's fields only: ours goes with the rest of
        # the client's security settings.
        fieldsets = [(name, dict(options)) for name, options in super().get_fieldsets(request, obj)]
        fieldsets.append(("DPoP (RFC 9449)", {"fields": ("require_dpop",)}))
        return fieldsets

    def save_model(self, request, obj: OIDCClient, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.set_dpop_required(obj, form.cleaned_data.get("require_dpop", False))


def fingerprint(value: str) -> str:
    """The first 8 hex digits of SHA-256(value): enough to tell rows apart, useless to replay."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def stored_fingerprint(stored: str) -> str:
    """The fingerprint of the code or token a column keeps the hash of (`policy.hashed_once`):
    the same 8 digits `fingerprint` gives for the value a client holds, so the two match."""
    return policy.hashed_once(stored)[:8]


# The library's __str__ of Token and Code prints the column (now a hash, once a usable value):
# the admin puts it in list pages, delete confirmations and its change log (LogEntry.object_repr).
Token.__str__ = lambda self: f"{self.client} - token {stored_fingerprint(self.access_token)}"
Code.__str__ = lambda self: f"{self.client} - code {stored_fingerprint(self.code)}"


class SecretFreeAdmin(admin.ModelAdmin):
    """Live codes and tokens: listed by fingerprint, never shown, edited or searched by value.

    The columns hold SHA-256 hashes, which no endpoint accepts; still only a fingerprint is
    shown, the one the holder of the value can compute. Rows stay deletable: deleting one
    revokes it.
    """

    list_display = ["fingerprint", "client", "user", "expires_at"]
    list_filter = ["client"]
    search_fields: list[str] = []

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the change page becomes a read-only view of the fields below


@admin.register(Code)
class CodeAdmin(SecretFreeAdmin):
    fields = ["fingerprint", "client", "user", "expires_at", "_scope"]
    readonly_fields = fields

    @admin.display(description="Code (fingerprint)")
    def fingerprint(self, obj: Code) -> str:
        return stored_fingerprint(obj.code)


@admin.register(Token)
class TokenAdmin(SecretFreeAdmin):
    fields = ["fingerprint", "refresh_fingerprint", "client", "user", "expires_at", "_scope"]
    readonly_fields = fields

    @admin.display(description="Access token (fingerprint)")
    def fingerprint(self, obj: Token) -> str:
        return stored_fingerprint(obj.access_token)

    @admin.display(description="Refresh token (fingerprint)")
    def refresh_fingerprint(self, obj: Token) -> str:
        return stored_fingerprint(obj.refresh_token) if obj.refresh_token else ""


@admin.register(RSAKey)
class RSAKeyAdmin(admin.ModelAdmin):
    """RS256 keys, like ECKeyAdmin's: generated on Add, never typed in, never shown."""

    fields = ["key_id"]
    readonly_fields = ["key_id"]
    list_display = ["__str__"]

    @admin.display(description="Key ID (kid)")
    def key_id(self, obj: RSAKey) -> str:
        return obj.kid or "(made when you save)"

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj: RSAKey, form, change: bool) -> None:
        if not obj.key:
            obj.key = services.new_signing_key_pem("RS256")
        super().save_model(request, obj, form, change)


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
            obj.key = services.new_signing_key_pem("ES256")
        super().save_model(request, obj, form, change)
