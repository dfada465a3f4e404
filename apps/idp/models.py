"""What the IdP remembers beside django-oidc-provider's own tables: grants and ES256 keys.

A grant is one authorization: the code, then the tokens issued from it and rotated from
each other (a refresh token family). Every refresh token of a grant starts with the
grant's random `family` id, so a rotated one presented again names its grant without a
table of used tokens (RFC 9700 §4.14.2). The code is kept as a SHA-256 hash only,
enough to recognise a replay (RFC 6749 §4.1.2).
"""

from django.conf import settings
from django.db import models
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Token

from apps.idp import policy


class Grant(models.Model):
    client = models.ForeignKey(OIDCClient, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)  # the unique index is the lookup
    family = models.CharField(max_length=32, unique=True)  # prefix of its refresh tokens
    redirect_uri = models.TextField()  # the authorization request's; the code is bound to it
    created_at = models.DateTimeField()  # the absolute refresh lifetime counts from here
    exchanged_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)  # last exchange or rotation
    # The refresh token the last rotation replaced: presented again within the grace
    # period, it lost a race rather than being reused.
    previous_refresh_hash = models.CharField(max_length=64, blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The scope the code was exchanged for: every refresh token of the grant keeps it, while
    # the Token row's scope is its access token's, which a refresh may narrow (RFC 6749 §6).
    # Empty for grants exchanged before it was kept: their token's scope stands in.
    scope = models.TextField(blank=True, default="")
    # The RFC 8707 resource its access tokens are for (their audience); "" when none was
    # asked for: such tokens are not restricted to one resource.
    resource = models.TextField(blank=True, default="")
    # The RFC 7638 thumbprint of the key the next exchange or refresh must prove (RFC 9449):
    # set by `dpop_jkt` at authorize (§10, binds the code) and, for public clients, by the
    # first proof at the token endpoint (§5, binds every refresh token of the grant). Empty:
    # unbound. A confidential client's refresh tokens stay bound to its authentication.
    dpop_jkt = models.CharField(max_length=43, blank=True, default="")

    def __str__(self) -> str:
        return f"grant {self.pk} of {self.client}"

    @property
    def scopes(self) -> list[str]:
        return self.scope.split()


class IssuedToken(models.Model):
    """Links a library `Token` (access + refresh token) to the grant it belongs to."""

    token = models.OneToOneField(
        Token, on_delete=models.CASCADE, primary_key=True, related_name="grant_link"
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="issued")

    def __str__(self) -> str:
        return f"token {self.token_id} of grant {self.grant_id}"


class ECKey(models.Model):
    """An ECDSA P-256 private key (PEM) that signs ES256 ID tokens.

    The library's RSAKey holds the RS256 keys and its JWKS knows no other kind; apps/idp/keys.py
    parses both tables and publishes both. The oldest row signs, as with RSAKey.
    """

    key = models.TextField(help_text="PEM private key on the P-256 curve.")

    class Meta:
        verbose_name = "EC key"

    def __str__(self) -> str:
        return f"EC key {self.pk}"


class KeyCreation(models.Model):
    """When a signing key was made: neither key table records it, and key age is what an
    operator watches to rotate in time (`idp_signing_key_age_seconds`)."""

    alg = models.CharField(max_length=10)  # RS256 (the library's RSAKey) or ES256 (ECKey)
    key_id = models.BigIntegerField()  # the row's primary key in its table
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alg", "key_id"], name="one_key_creation")]

    def __str__(self) -> str:
        return f"{self.alg} key {self.key_id} made {self.created_at:%Y-%m-%d}"


class LoopbackRedirectUris(list):
    """A client's redirect URIs, `in` answering with `policy.redirect_uri_matches`."""

    def __init__(self, uris: list[str], *, loopback_any_port: bool) -> None:
        super().__init__(uris)
        self.loopback_any_port = loopback_any_port

    def __contains__(self, requested: object) -> bool:
        return isinstance(requested, str) and any(
            policy.redirect_uri_matches(
                requested, registered, loopback_any_port=self.loopback_any_port
            )
            for registered in self
        )


class LoopbackAwareClient(OIDCClient):
    """The library's client whose redirect URIs match a public client's loopback URI on any
    port (RFC 8252 §7.3). The library's authorization endpoint checks `redirect_uri in
    client.redirect_uris`: served this class, that check applies our rule."""

    class Meta:
        proxy = True

    @property
    def redirect_uris(self) -> LoopbackRedirectUris:
        return LoopbackRedirectUris(
            self._redirect_uris.splitlines(), loopback_any_port=self.client_type == "public"
        )

    @redirect_uris.setter
    def redirect_uris(self, value: list[str]) -> None:
        self._redirect_uris = "\n".join(value)


class DeviceAuthorization(models.Model):
    """One device authorization request (RFC 8628 §3.1), until its device code is redeemed.

    The device code is kept as a SHA-256 hash only; the user code, short-lived and useless
    without a signed-in person's approval, is kept as typed (normalised, without the dash).
    On approval a `Grant` is made, as the code flow's consent makes one, so the tokens
    issued from it rotate, are reuse-checked and revoked like any other.
    """

    PENDING, APPROVED, DENIED, USED = "pending", "approved", "denied", "used"
    STATUSES = [(s, s) for s in (PENDING, APPROVED, DENIED, USED)]

    client = models.ForeignKey(OIDCClient, on_delete=models.CASCADE, related_name="+")
    device_code_hash = models.CharField(max_length=64, unique=True)
    user_code = models.CharField(max_length=8, unique=True)
    scope = models.TextField()  # space-separated, already limited to what the client may get
    resource = models.TextField(blank=True, default="")  # RFC 8707; copied to the grant
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    interval = models.PositiveIntegerField()  # seconds; grows by 5 with each slow_down
    last_polled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=STATUSES, default=PENDING)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    grant = models.OneToOneField(
        Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="device"
    )

    def __str__(self) -> str:
        return f"device authorization {self.pk} of {self.client} ({self.status})"


class WrongUserCode(models.Model):
    """A wrong user code typed at /device: counted per person to stop guessing (RFC 8628 §5.1)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"wrong user code by {self.user_id} at {self.at}"


class DPoPProofUse(models.Model):
    """A DPoP proof already presented (RFC 9449 §11.1): its key's thumbprint and its jti.

    The unique pair makes a replay fail at INSERT, on whichever instance it arrives
    (apps/idp/dpop_replay.py). A row is needed only until `expires_at`, after which the
    proof's `iat` is outside the accepted window anyway.
    """

    jkt = models.CharField(max_length=43)  # base64url SHA-256 (RFC 7638)
    jti = models.CharField(max_length=200)  # apps.idp.dpop.MAX_JTI_LENGTH
    expires_at = models.DateTimeField(db_index=True)  # purged by this

    class Meta:
        verbose_name = "DPoP proof use"
        constraints = [models.UniqueConstraint(fields=["jkt", "jti"], name="one_dpop_proof_use")]

    def __str__(self) -> str:
        return f"DPoP proof {self.jti} of key {self.jkt}"


class RegisteredClient(models.Model):
    """A client that registered itself (RFC 7591): what the registration left beside the
    library's client row, which holds everything the protocol uses.

    The registration access token (RFC 7592) is kept as a SHA-256 hash only. `address` is
    where the registration came from, which the per-address limit counts.
    """

    client = models.OneToOneField(
        OIDCClient, on_delete=models.CASCADE, primary_key=True, related_name="self_registration"
    )
    access_token_hash = models.CharField(max_length=64)
    address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    registered_at = models.DateTimeField(db_index=True)
    grant_types = models.TextField()  # space-separated, as registered

    def __str__(self) -> str:
        return f"self-registered client {self.client_id}"


class DPoPClientPolicy(models.Model):
    """What the IdP asks of a client's DPoP use, beside the library's Client (no row: nothing).

    `require_dpop`: every token request of the client must carry a DPoP proof (RFC 9449 §5),
    so each of its access tokens (and a public client's refresh tokens) is sender-constrained.
    """

    client = models.OneToOneField(
        OIDCClient, on_delete=models.CASCADE, primary_key=True, related_name="dpop_policy"
    )
    require_dpop = models.BooleanField(
        default=False,
        verbose_name="Require DPoP",
        help_text="Refuse this client's token requests that carry no DPoP proof (RFC 9449).",
    )

    class Meta:
        verbose_name = "DPoP policy"
        verbose_name_plural = "DPoP policy"

    def __str__(self) -> str:
        return f"DPoP {'required' if self.require_dpop else 'optional'} for {self.client}"
