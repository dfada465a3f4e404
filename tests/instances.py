"""IdP instances as real granian processes, and a TCP proxy to put between things and cut.

Shared by the several-instances tests and the fault tests (PostgreSQL away, a worker killed).
"""

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from config import serving

START_TIMEOUT_SECONDS = 30
# The tests that run real instances on the shared test database: PostgreSQL only.
ON_POSTGRESQL = [
    pytest.mark.postgres,
    pytest.mark.integration,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="real instances share a PostgreSQL database: make test-postgres",
    ),
]


def test_database_url(port: int | None = None) -> str:
    """The URL of the test database pytest-django created; `port` to reach it another way."""
    db = connection.settings_dict
    user = quote(db["USER"], safe="")
    password = quote(db["PASSWORD"], safe="")
    return f"postgres://{user}:{password}@{db['HOST']}:{port or db['PORT']}/{quote(db['NAME'])}"


test_database_url.__test__ = False  # a helper, not a test, whatever its name says


def start_instance(
    port: int, env: dict[str, str], log: Path, *, header_timeout_ms: int | None = None
) -> subprocess.Popen:
    """granian with the flags Procfile.serve gives it (config/serving.py), four Django threads
    per worker unless `env` says SERVE_THREADS; SERVER_CERT/SERVER_KEY from `env`."""
    timeout = {"header_timeout_ms": header_timeout_ms} if header_timeout_ms else {}
    command = [
        *serving.granian_command(
            host="127.0.0.1",
            port=port,
            workers=2,
            certificate=env["SERVER_CERT"],
            key=env["SERVER_KEY"],
            **timeout,
        ),
        "--respawn-interval=0.5",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env={"SERVE_THREADS": "4", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_serving(port: int, ca_file: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"instance {port} exited with {process.returncode}:\n{log.read_text()}")
        try:
            # Any HTTP answer means a worker is up (404 here: not the public Host).
            requests.get(f"https://localhost:{port}/", verify=ca_file, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):  # still starting
            time.sleep(0.2)
    pytest.fail(
        f"instance on {port} did not answer in {START_TIMEOUT_SECONDS}s:\n{log.read_text()}"
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes, then close both."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass  # the other direction closed both sockets
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def splice(downstream: socket.socket, upstream: socket.socket) -> None:
    threading.Thread(target=pipe, args=(downstream, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, downstream), daemon=True).start()


def forward_connections(
    listener: socket.socket,
    upstream_port: Callable[[], int | None],
    opened: list[socket.socket] | None = None,
) -> None:
    """Accept on `listener` until it closes; splice each connection to the port
    `upstream_port()` names then, or close it at once when that is None (refused).
    The spliced sockets are added to `opened`, for a caller that may reset them."""
    while True:
        try:
            downstream, _ = listener.accept()
        except OSError:
            return  # closed
        port = upstream_port()
        if port is None:
            downstream.close()
            continue
        upstream = socket.create_connection(("127.0.0.1", port))
        if opened is not None:
            opened.extend((downstream, upstream))
        splice(downstream, upstream)


class TcpProxy:
    """Forwards loopback connections to `target_port` until cut: then, as if the server behind
    it had stopped, open connections are reset and new ones refused, until restored."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self.is_cut = False
        self._open: list[socket.socket] = []
        threading.Thread(
            target=forward_connections,
            args=(self._listener, self._route, self._open),
            daemon=True,
        ).start()

    def _route(self) -> int | None:
        return None if self.is_cut else self.target_port

    def cut(self) -> None:
        """New connections are refused; open ones are reset, since the database they reach
        answers no more (a fresh connection to a restarted server is a new one)."""
        with self._lock:
            self.is_cut = True
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self.is_cut = False

    def close(self) -> None:
        self.cut()
        self._listener.close()
