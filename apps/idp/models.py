"""What the IdP remembers beside django-oidc-provider's own tables: one row per grant.

A grant is one authorization: the code, then the tokens issued from it and rotated from
each other (a refresh token family). Codes and rotated refresh tokens are kept as SHA-256
fingerprints only, enough to recognise a replay (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
"""

from django.db import models
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Token


class Grant(models.Model):
    client = models.ForeignKey(OIDCClient, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)  # the unique index is the lookup
    redirect_uri = models.TextField()  # the authorization request's; the code is bound to it
    created_at = models.DateTimeField()  # the absolute refresh lifetime counts from here
    exchanged_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)  # the idle lifetime, from here
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"grant {self.pk} of {self.client}"


class IssuedToken(models.Model):
    """Links a library `Token` (access + refresh token) to the grant it belongs to."""

    token = models.OneToOneField(
        Token, on_delete=models.CASCADE, primary_key=True, related_name="grant_link"
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="issued")

    def __str__(self) -> str:
        return f"token {self.token_id} of grant {self.grant_id}"


class RotatedRefreshToken(models.Model):
    """A refresh token that was used once and replaced: presenting it again is reuse."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="rotated")
    rotated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"rotated refresh token of grant {self.grant_id}"
