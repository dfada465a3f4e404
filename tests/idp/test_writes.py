"""apps.idp.writes: token endpoint writes queue on SQLite, and nest inside a transaction."""

import fcntl
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction
from oidc_provider.models import Client

from apps.idp import writes

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the queue is for SQLite's one writer"
)


def lock_file() -> Path:
    return Path(f"{connection.settings_dict['NAME']}.write-lock")


def file_lock_is_free() -> bool:
    """Can another open file take the lock file's flock? (Not while a writer holds it.)"""
    with lock_file().open("ab") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(probe, fcntl.LOCK_UN)
        return True


def new_client(client_id: str) -> None:
    Client.objects.create(name=client_id, client_id=client_id, client_type="public")


def test_inside_a_transaction_it_joins_it_and_rolls_back_with_it(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        with writes.write_transaction():
            new_client("joined")
            # Nested: the outer transaction already has the database; queueing again here
            # would wait on this very thread.
            assert not writes._thread_lock.locked()
        raise RuntimeError("the outer transaction fails")
    assert not Client.objects.filter(client_id="joined").exists()


@sqlite_only
def test_a_writer_holds_both_locks_until_it_commits(transactional_db):
    with writes.write_transaction():
        new_client("first")
        assert writes._thread_lock.locked()  # other threads of this process wait
        assert not file_lock_is_free()  # other processes wait
    assert not writes._thread_lock.locked() and file_lock_is_free()
    assert Client.objects.filter(client_id="first").exists()  # committed on the way out


@sqlite_only
def test_a_second_writer_enters_only_once_the_first_is_done(transactional_db):
    order: list[str] = []
    first_inside, let_first_finish = threading.Event(), threading.Event()

    def first() -> None:
        with writes.write_transaction():
            new_client("first")
            first_inside.set()
            let_first_finish.wait(5)
            order.append("first done")
        connection.close()

    def second() -> None:
        first_inside.wait(5)
        with writes.write_transaction():
            order.append("second inside")
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inside.wait(5)
    threads[1].join(0.3)
    assert order == [] and not file_lock_is_free()  # the second waits on the lock
    let_first_finish.set()
    for thread in threads:
        thread.join(10)
    assert order == ["first done", "second inside"]
