"""The Procfile `make demo` starts: both servers over HTTPS under honcho, stopped by Ctrl+C."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(settings.BASE_DIR)
CODE = "0123456789abcdef0123456789abcdef"  # the shape of the library's codes


def wait_for(url: str, ca_file: str, deadline: float) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        while True:
            try:
                return http.get(url, verify=ca_file, timeout=2)
            except (requests.ConnectionError, requests.Timeout):  # still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.fixture
def demo_env(tmp_path, cert_paths) -> dict:
    idp_port, receiver_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OIDC_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        OIDC_SITE_URL=f"https://localhost:{idp_port}",
        RECEIVER_URL=f"https://127.0.0.1:{receiver_port}/",
        PYTHONUNBUFFERED="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    procfile = (ROOT / "Procfile").read_text()
    procfile = procfile.replace(".venv/bin/python", sys.executable)
    procfile = procfile.replace("certs/server.pem", str(cert_paths.server_cert))
    procfile = procfile.replace("certs/server-key.pem", str(cert_paths.server_key))
    procfile = procfile.replace(":8443", f":{idp_port}").replace(":8444", f":{receiver_port}")
    (tmp_path / "Procfile").write_text(procfile)
    env["TEST_PROCFILE"] = str(tmp_path / "Procfile")
    return env


def test_procfile_serves_both_origins_and_ctrl_c_stops_both(demo_env, cert_paths):
    honcho = Path(sys.executable).with_name("honcho")
    runner = subprocess.Popen(
        [honcho, "-f", demo_env["TEST_PROCFILE"], "-d", ROOT, "start"],
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ca = str(cert_paths.ca_cert)
    try:
        deadline = time.monotonic() + 30
        issuer = f"{demo_env['OIDC_SITE_URL']}/oidc"
        meta = wait_for(f"{issuer}/.well-known/openid-configuration", ca, deadline)
        assert meta.json()["issuer"] == issuer
        receiver = wait_for(f"{demo_env['RECEIVER_URL']}?code={CODE}&state=s", ca, deadline)
        assert f'id="code">{CODE}<' in receiver.text
    finally:
        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl+C in the terminal sends
        output, _ = runner.communicate(timeout=20)
    assert "idp.1" in output and "receiver.1" in output  # one log, each line marked
    assert "GET /?code=[redacted]" in output and CODE not in output
    for url in (demo_env["OIDC_SITE_URL"], demo_env["RECEIVER_URL"]):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, verify=ca, timeout=2)
