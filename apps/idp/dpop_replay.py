"""Each DPoP proof is accepted once (RFC 9449 §11.1), across every instance of the IdP.

Checking first and inserting after would let two instances both accept the same proof: the
database's unique (jkt, jti) constraint decides instead, at the INSERT.
"""

from datetime import datetime

from django.db import IntegrityError, transaction

from apps.idp.models import DPoPProofUse


def remember_jti(jkt: str, jti: str, expires_at: datetime) -> bool:
    """Record a proof's use; False if this key's proof with this jti was seen before.

    The INSERT runs in a savepoint, so a refused one leaves the caller's transaction usable
    (on PostgreSQL a failed statement would otherwise abort it).
    """
    try:
        with transaction.atomic():
            DPoPProofUse.objects.create(jkt=jkt, jti=jti, expires_at=expires_at)
    except IntegrityError:
        return False
    return True


def forget_expired(now: datetime) -> int:
    """Delete the uses whose proofs no check accepts any more; how many went."""
    deleted, _ = DPoPProofUse.objects.filter(expires_at__lte=now).delete()
    return deleted
