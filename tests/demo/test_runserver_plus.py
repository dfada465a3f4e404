"""`manage.py runserver_plus` as `make demo` runs it: no debugger, no stall on a silent or a
slow client."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(settings.BASE_DIR)
START_TIMEOUT_SECONDS = 30
# Werkzeug's debugger answers these whenever it wraps the app, whatever the path's view.
CONSOLE_URL = "/console"
DEBUGGER_SCRIPT_URL = "/?__debugger__=yes&cmd=resource&f=debugger.js"


@dataclass
class DevServer:
    url: str
    process: subprocess.Popen
    http: requests.Session

    def output(self) -> str:
        os.killpg(self.process.pid, signal.SIGINT)
        out, _ = self.process.communicate(timeout=20)
        return out


def start_runserver_plus(tmp_path: Path, cert_paths, *, debug: bool) -> DevServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        OIDC_SITE_URL=f"https://localhost:{port}",
        PYTHONUNBUFFERED="1",
        DJANGO_DEBUG="1" if debug else "0",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    command = [sys.executable, "manage.py", "runserver_plus", "--cert-file"]
    command += [str(cert_paths.server_cert), "--key-file", str(cert_paths.server_key)]
    process = subprocess.Popen(
        [*command, f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    http = requests.Session()
    http.trust_env = False
    http.verify = str(cert_paths.ca_cert)
    url = f"https://localhost:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            http.get(f"{url}/oidc/.well-known/openid-configuration", timeout=2)
            return DevServer(url, process, http)
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still starting
            if process.poll() is not None or time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"runserver_plus did not start:\n{process.communicate()[0]}")
            time.sleep(0.2)


@pytest.fixture
def dev_server(tmp_path, cert_paths) -> Iterator[DevServer]:
    server = start_runserver_plus(tmp_path, cert_paths, debug=False)
    yield server
    if server.process.poll() is None:
        server.output()


def test_no_debugger_console_or_resources_with_debug_off(dev_server):
    console = dev_server.http.get(f"{dev_server.url}{CONSOLE_URL}", timeout=5)
    assert console.status_code == 404
    assert "Interactive Console" not in console.text
    script = dev_server.http.get(f"{dev_server.url}{DEBUGGER_SCRIPT_URL}", timeout=5)
    assert script.headers["Content-Type"].startswith("text/html")  # the IdP's home page
    assert "openShell" not in script.text  # a function of Werkzeug's debugger.js
    output = dev_server.output()
    assert "PIN" not in output


def test_a_silent_connection_does_not_stall_other_clients(dev_server):
    port = int(dev_server.url.rsplit(":", 1)[1])
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]  # no handshake
    try:
        started = time.monotonic()
        response = dev_server.http.get(f"{dev_server.url}/oidc/jwks", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - started < 3
    finally:
        for connection in silent:
            connection.close()


def test_debug_on_warns_loudly_that_the_debugger_runs_code(tmp_path, cert_paths):
    server = start_runserver_plus(tmp_path, cert_paths, debug=True)
    output = server.output()
    assert "WARNING: DJANGO_DEBUG=1: Werkzeug's interactive debugger is on" in output


def test_slow_request_bodies_do_not_stall_other_clients(dev_server, cert_paths):
    """Twenty clients that trickle a token request's body hold only their own threads."""
    port = int(dev_server.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(cert_paths.ca_cert))
    head = (
        "POST /oidc/token HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"
    )
    slow = []
    try:
        for _ in range(20):
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection = context.wrap_socket(raw, server_hostname="localhost")
            connection.sendall(head.encode() + b"g")  # one byte of 200, and then nothing yet
            slow.append(connection)
        started = time.monotonic()
        for _ in range(3):
            response = dev_server.http.get(f"{dev_server.url}/oidc/jwks", timeout=5)
            assert response.status_code == 200
            for connection in slow:
                connection.sendall(b"r")  # still trickling
        assert time.monotonic() - started < 5
    finally:
        for connection in slow:
            connection.close()
