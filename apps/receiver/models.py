"""What the resource server keeps: the DPoP proofs it accepted, each once (RFC 9449 §11.1)."""

from django.db import models


class ResourceProofUse(models.Model):
    """A DPoP proof /api/profile accepted: its key's thumbprint and its jti.

    The unique pair makes a replayed proof fail at INSERT on whichever instance it arrives
    (apps/receiver/replay.py); the IdP keeps its own (apps.idp's DPoPProofUse), as another
    server would. A row is needed only until `expires_at`: the proof is too old after that.
    """

    jkt = models.CharField(max_length=43)  # base64url SHA-256 (RFC 7638)
    jti = models.CharField(max_length=200)  # apps.idp.dpop.MAX_JTI_LENGTH
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "DPoP proof used at the API"
        constraints = [
            models.UniqueConstraint(fields=["jkt", "jti"], name="one_resource_proof_use")
        ]

    def __str__(self) -> str:
        return f"DPoP proof {self.jti} of key {self.jkt} at the API"
