"""Idle and slow clients against the IdP as `make serve` runs it (granian, config/rsgi.py).

Real sockets on a real granian server started with Procfile.serve's flags (config/serving.py),
with short limits so that the tests are quick: a 3 s body deadline and a 2 s header timeout.
The normal requests made while the slow ones are connected allow 10 s, far more than they
need, so a pass means the server answered, not that it was fast.
"""

import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from django.conf import settings

from tests import instances as granian
from tests.ports import free_port

pytestmark = pytest.mark.integration

BODY_TIMEOUT_SECONDS = 3
HEADER_TIMEOUT_MS = 2000
MAX_BODY_BYTES = 1024 * 1024  # the default, SERVE_MAX_BODY_BYTES unset
SLOW_CLIENTS = 24  # more than the 2 workers x 4 threads the instance has
TRICKLE_PAUSE_SECONDS = 2
NORMAL_TIMEOUT_SECONDS = 10
GIVE_UP_SECONDS = 30  # a slow client stops waiting for an answer (on a server without limits)


@dataclass
class Idp:
    port: int
    ca_file: str

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def connect(self) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=self.ca_file)
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP_SECONDS)
        return context.wrap_socket(raw, server_hostname="localhost")

    def head(self, path: str, *headers: str) -> bytes:
        lines = [f"POST {path} HTTP/1.1", f"Host: localhost:{self.port}", *headers, "", ""]
        return "\r\n".join(lines).encode()


@pytest.fixture(scope="module")
def idp(cert_paths, tmp_path_factory) -> Iterator[Idp]:
    """One instance for the module, on a SQLite file of its own (the tests write nothing)."""
    directory = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'idp.sqlite3'}",
        "OIDC_SITE_URL": f"https://localhost:{port}",
        "RECEIVER_URL": "https://127.0.0.1:9/",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "DJANGO_DEBUG": "0",
        "SERVE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
        "SERVER_CERT": str(cert_paths.server_cert),
        "SERVER_KEY": str(cert_paths.server_key),
    }
    manage = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
    subprocess.run(manage, cwd=settings.BASE_DIR, env=env, check=True)
    log = directory / "idp.log"
    process = granian.start_instance(port, env, log, header_timeout_ms=HEADER_TIMEOUT_MS)
    try:
        granian.wait_until_serving(port, str(cert_paths.ca_cert), process, log)
        yield Idp(port, str(cert_paths.ca_cert))
    finally:
        granian.stop(process)


def read_until_closed(sock: socket.socket, timeout: float = GIVE_UP_SECONDS) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection, and whether it closed it."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return received, False
    except (ConnectionResetError, ssl.SSLError):
        pass  # closed all the same
    return received, True


def trickle(sock: ssl.SSLSocket, body: bytes) -> tuple[bytes, bool]:
    """Send `body` a byte every TRICKLE_PAUSE_SECONDS until the server answers or closes."""
    deadline = time.monotonic() + GIVE_UP_SECONDS
    for byte in body:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break  # the server closed the connection
        sock.settimeout(TRICKLE_PAUSE_SECONDS)
        try:
            first = sock.recv(65536)
        except TimeoutError:
            if time.monotonic() > deadline:
                return b"", False
            continue
        received, closed = read_until_closed(sock)
        return first + received, closed or not first
    return read_until_closed(sock)


def split_response(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


def assert_oauth_refusal(raw: bytes, status: int) -> None:
    status_line, headers, body = split_response(raw)
    assert status_line.startswith(f"HTTP/1.1 {status} "), raw[:200]
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == "invalid_request"


def normal_client_is_answered(idp: Idp) -> None:
    with requests.Session() as http:
        http.trust_env = False
        http.verify = idp.ca_file
        health = http.get(f"{idp.url}/healthz", timeout=NORMAL_TIMEOUT_SECONDS)
        assert health.status_code == 200
        token = http.post(
            f"{idp.url}/oidc/token",
            data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"},
            timeout=NORMAL_TIMEOUT_SECONDS,
        )
        assert token.status_code in (400, 401) and "error" in token.json()


def test_clients_trickling_token_bodies_hold_no_thread_and_get_408(idp):
    body = b"grant_type=refresh_token&refresh_token=" + b"x" * 40
    started = threading.Barrier(SLOW_CLIENTS + 1)
    answers: list[tuple[bytes, bool]] = []

    def slow_client() -> None:
        with idp.connect() as sock:
            sock.sendall(
                idp.head(
                    "/oidc/token",
                    "Content-Type: application/x-www-form-urlencoded",
                    f"Content-Length: {len(body)}",
                )
            )
            sock.sendall(body[:1])
            started.wait()
            answers.append(trickle(sock, body[1:]))

    clients = [threading.Thread(target=slow_client, daemon=True) for _ in range(SLOW_CLIENTS)]
    for client in clients:
        client.start()
    started.wait(timeout=NORMAL_TIMEOUT_SECONDS)

    normal_client_is_answered(idp)  # while every slow client is still sending

    for client in clients:
        client.join(timeout=GIVE_UP_SECONDS + 5)
    assert len(answers) == SLOW_CLIENTS
    for raw, closed in answers:
        assert_oauth_refusal(raw, 408)
        assert closed


def test_a_body_over_the_maximum_gets_413_and_the_connection_closed(idp):
    with idp.connect() as declared:  # refused on its Content-Length, before any body
        declared.sendall(
            idp.head(
                "/oidc/token",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {MAX_BODY_BYTES + 1}",
            )
        )
        raw, closed = read_until_closed(declared)
    assert_oauth_refusal(raw, 413)
    assert closed

    with idp.connect() as chunked:  # no length given: refused once it has grown too large
        chunked.sendall(
            idp.head(
                "/oidc/token",
                "Content-Type: application/x-www-form-urlencoded",
                "Transfer-Encoding: chunked",
            )
        )
        piece = b"a" * 65536
        for _ in range(MAX_BODY_BYTES // len(piece) + 1):
            chunked.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        raw, closed = read_until_closed(chunked)
    assert_oauth_refusal(raw, 413)
    assert closed

    with idp.connect() as page:  # a page, not the back channel: plain text
        page.sendall(idp.head("/accounts/login/", f"Content-Length: {MAX_BODY_BYTES + 1}"))
        raw, closed = read_until_closed(page)
    status_line, headers, body = split_response(raw)
    assert status_line.startswith("HTTP/1.1 413 ")
    assert headers["content-type"].startswith("text/plain") and b"larger" in body
    assert closed


def test_connections_that_never_finish_tls_or_never_send_a_request_are_closed(idp):
    silent_tcp = [socket.create_connection(("127.0.0.1", idp.port)) for _ in range(30)]
    silent_tls = [idp.connect() for _ in range(30)]
    half_request = [idp.connect() for _ in range(10)]
    for sock in half_request:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: localhost:{idp.port}\r\n".encode())
    kept_alive = []
    for _ in range(5):  # an answer, then nothing more on a keep-alive connection
        sock = idp.connect()
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: localhost:{idp.port}\r\n\r\n".encode())
        sock.settimeout(NORMAL_TIMEOUT_SECONDS)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        kept_alive.append(sock)

    normal_client_is_answered(idp)

    # granian ends a TLS handshake after 10 s, a request's headers after the header timeout.
    for sock in silent_tcp + silent_tls + half_request + kept_alive:
        with sock:
            _, closed = read_until_closed(sock, timeout=15)
            assert closed
