"""`manage.py runserver` as the seed's document uses it: the IdP over HTTPS at OIDC_SITE_URL.

With an address it stays Django's plain-HTTP runserver. Each server runs as a subprocess
on a free port, in a project copy whose certs/ holds the test CA's server certificate.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.demo import certs
from tests.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(settings.BASE_DIR)
START_TIMEOUT_SECONDS = 30
DISCOVERY = "/oidc/.well-known/openid-configuration"


def demo_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A new user's environment: none of ours, a database of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "runserver", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the reloader's child too is stopped with its group
    )


def wait_until_served(process: subprocess.Popen, http: requests.Session, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            http.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):  # still starting
            if process.poll() is not None or time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"runserver did not start:\n{process.communicate()[0]}")
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
    return out


@pytest.fixture
def demo_certs() -> certs.CertPaths:
    """certs/ as `make demo` leaves it (created here, the same way, on a fresh clone).

    runserver with no address reads the project's certs/ (settings.CERTS_DIR), as the
    seed's document expects after `make demo` ran once.
    """
    paths, _ = certs.ensure_certificates(Path(settings.CERTS_DIR))
    return paths


def https_session(ca_file: Path) -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    http.verify = str(ca_file)
    return http


def test_runserver_without_address_serves_the_idp_over_https_at_the_site_port(tmp_path, demo_certs):
    port = free_port()
    site = f"https://localhost:{port}"
    env = demo_env(tmp_path, OIDC_SITE_URL=site, RECEIVER_URL="https://localhost:9444/")
    assert manage("migrate", "--verbosity", "0", env=env).returncode == 0
    process = start([], env)
    http = https_session(demo_certs.ca_cert)
    try:
        wait_until_served(process, http, f"{site}{DISCOVERY}")
        discovery = http.get(f"{site}{DISCOVERY}", timeout=5)
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == f"{site}/oidc"
        admin = http.get(f"{site}/admin/", timeout=5)  # the document's next step
        assert admin.status_code == 200
        assert "Log in" in admin.text
    finally:
        out = stop(process)
    lines = out.splitlines()
    assert lines[0] == (
        f"Serving the IdP at {site}/ over HTTPS (listening on 127.0.0.1:{port}; Ctrl+C to quit)."
    )
    assert f"  Admin   {site}/admin/" in lines[:6]
    assert "The receiver (https://localhost:9444/) is a second server, on port 9444" in out
    assert (
        "  python manage.py runserver_plus --cert-file certs/server.pem "
        "--key-file certs/server-key.pem 127.0.0.1:9444"
    ) in lines
    assert "`make demo`, which starts both" in out
    assert "No directory at" not in out  # whitenoise's STATIC_ROOT warning, before collectstatic
    assert "PIN" not in out  # no debugger without DJANGO_DEBUG=1
    assert out.count("Serving the IdP at") == 1  # not again from the reloader's child


def test_runserver_with_an_address_keeps_djangos_plain_http_meaning(tmp_path):
    port = free_port()
    env = demo_env(tmp_path, OIDC_SITE_URL="https://localhost:9443")
    process = start(["--skip-checks", f"127.0.0.1:{port}"], env)
    http = requests.Session()
    http.trust_env = False
    try:
        wait_until_served(process, http, f"http://127.0.0.1:{port}/")
        # Django's server answers plain HTTP; the IdP's own middleware then sends the browser
        # to HTTPS or refuses the host, whatever it decides: it is Django's runserver serving.
        response = http.get(f"http://127.0.0.1:{port}{DISCOVERY}", timeout=5, allow_redirects=False)
        assert response.raw.version == 11
    finally:
        out = stop(process)
    assert f"Starting development server at http://127.0.0.1:{port}/" in out
    assert "Serving the IdP at" not in out


def test_runserver_without_certificates_says_to_run_make_demo(tmp_path, settings):
    settings.CERTS_DIR = tmp_path / "certs"
    with pytest.raises(CommandError, match=r"Run `make demo` \(or `manage.py prepare_demo`\) once"):
        call_command("runserver", "--noreload")
