"""A DPoP proof is accepted once at the API (RFC 9449 §11.1), across every instance.

As at the IdP (apps/idp/dpop_replay.py), the database's unique (jkt, jti) decides at the
INSERT, so two instances cannot both accept one proof. Expired rows go as new ones arrive:
the API has no purge job of its own.
"""

from datetime import datetime

from django.db import IntegrityError, transaction

from apps.receiver.models import ResourceProofUse

PURGE_EVERY = 100  # rows: after each hundredth insert (by id, so across instances) a cleanup


def remember_proof(jkt: str, jti: str, expires_at: datetime, *, now: datetime) -> bool:
    """Record a proof's use; False if this key's proof with this jti was seen before."""
    try:
        with transaction.atomic():  # a savepoint: a refusal leaves the caller's transaction
            use = ResourceProofUse.objects.create(jkt=jkt, jti=jti, expires_at=expires_at)
    except IntegrityError:
        return False
    if use.pk % PURGE_EVERY == 0:
        forget_expired(now)
    return True


def forget_expired(now: datetime) -> int:
    """Delete the uses whose proofs are too old to be accepted anyway; how many went."""
    deleted, _ = ResourceProofUse.objects.filter(expires_at__lte=now).delete()
    return deleted
