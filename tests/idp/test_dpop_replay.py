"""apps.idp.dpop_replay: a proof's (jkt, jti) is accepted once, whatever the database."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.idp.dpop_replay import forget_expired, remember_jti
from apps.idp.models import DPoPProofUse

pytestmark = pytest.mark.postgres

JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def later(seconds: int = 70):
    return timezone.now() + timedelta(seconds=seconds)


@pytest.mark.django_db
def test_a_jti_is_accepted_once_per_key():
    assert remember_jti(JKT, "-BwC3ESc6acc2lTc", later())
    assert not remember_jti(JKT, "-BwC3ESc6acc2lTc", later())
    assert remember_jti(JKT, "e1j3V_bKic8-LAEB", later())
    assert remember_jti("another-key-thumbprint", "-BwC3ESc6acc2lTc", later())


@pytest.mark.django_db
def test_a_replay_leaves_the_callers_transaction_usable():
    with transaction.atomic():
        assert remember_jti(JKT, "jti-1", later())
        assert not remember_jti(JKT, "jti-1", later())
        # Without the savepoint PostgreSQL would refuse this: the transaction is aborted.
        assert DPoPProofUse.objects.filter(jkt=JKT).count() == 1


@pytest.mark.django_db
def test_expired_uses_are_forgotten():
    remember_jti(JKT, "old", timezone.now() - timedelta(seconds=1))
    remember_jti(JKT, "current", later())
    assert forget_expired(timezone.now()) == 1
    assert list(DPoPProofUse.objects.values_list("jti", flat=True)) == ["current"]


PARALLEL = 8


@pytest.mark.django_db(transaction=True)
def test_parallel_presentations_of_one_proof_are_accepted_exactly_once():
    start = threading.Barrier(PARALLEL)
    results: list[bool] = []
    errors: list[BaseException] = []

    def present() -> None:
        try:
            start.wait(timeout=10)
            results.append(remember_jti(JKT, "raced-jti", later()))
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=present) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False] * (PARALLEL - 1) + [True]
