"""apps.idp.writes: token endpoint writes queue on SQLite, and nest inside a transaction."""

import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from apps.idp import writes


def test_inside_a_transaction_it_only_nests(db):
    with transaction.atomic(), writes.write_transaction():
        assert connection.in_atomic_block


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the queue is for SQLite's one writer")
def test_writers_take_turns_through_a_lock_file_beside_the_database(transactional_db):
    order = []
    first_inside = threading.Event()

    def first() -> None:
        with writes.write_transaction():
            first_inside.set()
            time.sleep(0.2)
            order.append("first done")

    def second() -> None:
        first_inside.wait(5)
        with writes.write_transaction():
            order.append("second inside")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first done", "second inside"]
    assert Path(f"{connection.settings_dict['NAME']}.write-lock").exists()
