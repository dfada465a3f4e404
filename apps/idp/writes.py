"""Write transactions of the back-channel endpoints (token, revocation), queued on SQLite.

SQLite lets one transaction write at a time. With `transaction_mode: IMMEDIATE` the others
wait in its busy handler, which polls with sleeps growing to 100 ms: under load a refresh can
sleep far longer than the lock is held, which made SQLite's p99 (make bench, C=32: see the
README). Here writers wait on locks that wake the next one as soon as the holder is done: a
threading lock among a process's threads, an flock on a file beside the database among
processes (the server's workers, several servers on one file). PostgreSQL locks rows and
needs none of this.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import IO

from django.db import connections, transaction

_thread_lock = threading.Lock()
_lock_files: dict[tuple[int, str], IO[bytes]] = {}  # by (pid, path): not shared across a fork


def _lock_file(database: str) -> IO[bytes]:
    key = (os.getpid(), f"{database}.write-lock")
    if key not in _lock_files:
        _lock_files[key] = open(key[1], "ab")  # kept open for the life of the process
    return _lock_files[key]


@contextmanager
def _file_lock(database: str) -> Iterator[None]:
    handle = _lock_file(database)
    fcntl.flock(handle, fcntl.LOCK_EX)  # releases the GIL while it waits
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)


def _on_disk(database: str) -> bool:
    return bool(database) and database != ":memory:" and "mode=memory" not in database


@contextmanager
def write_transaction(using: str = "default") -> Iterator[None]:
    """transaction.atomic(), entered in turn with every other writer on SQLite."""
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return
    database = str(connection.settings_dict["NAME"])
    file_lock = _file_lock(database) if _on_disk(database) else nullcontext()
    with _thread_lock, file_lock, transaction.atomic(using=using):
        yield
