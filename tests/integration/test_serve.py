"""`make serve` as a person runs it: both granian servers over TLS, then Ctrl+C stops both."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.ports import free_port, is_listening

# Both run Procfile.serve, which empties the project's var/metrics/idp: one worker, in turn.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("make-serve")]

START_TIMEOUT_SECONDS = 90  # a fresh clone migrates, makes the CA and an RSA key first


@pytest.fixture
def served(tmp_path):
    """`make serve` on free ports, localhost mode, a database file of its own."""
    idp_port, receiver_port = free_port(), free_port()
    env = {
        **os.environ,
        "OIDC_SITE_URL": f"https://localhost:{idp_port}",
        "RECEIVER_URL": f"https://127.0.0.1:{receiver_port}/",
        "SERVE_IDP_PORT": str(idp_port),
        "SERVE_RECEIVER_PORT": str(receiver_port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "DJANGO_DEBUG": "1",  # make serve must turn it off all the same
        "DJANGO_SUPERUSER_PASSWORD": "serve test password",
        "DJANGO_VAR_DIR": str(tmp_path / "var"),  # the project's own var/ is the user's
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "serve"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    http = requests.Session()
    http.trust_env = False
    http.verify = str(Path(settings.BASE_DIR) / "certs" / "ca.pem")
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (is_listening(idp_port) and is_listening(receiver_port)):
            if make.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make serve did not start:\n{log.read_text()}")
            time.sleep(0.3)
        yield make, http, idp_port, receiver_port, log
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=20)
        http.close()


def test_make_serve_runs_both_origins_under_granian_and_ctrl_c_stops_both(served):
    make, http, idp_port, receiver_port, log = served
    issuer = f"https://localhost:{idp_port}/oidc"
    meta = http.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    assert meta.status_code == 200 and meta.json()["issuer"] == issuer
    assert meta.headers["Server"] == "granian"
    # A back-channel answer is written in one piece, its length known: not a chunked body.
    assert meta.headers["Content-Length"] == str(len(meta.content))
    assert "Transfer-Encoding" not in meta.headers

    css = http.get(
        f"https://localhost:{idp_port}/static/admin/css/base.css",
        headers={"Accept-Encoding": "gzip"},
        timeout=10,
    )
    assert css.status_code == 200 and css.headers["Content-Encoding"] == "gzip"

    missing = http.get(f"https://localhost:{idp_port}/no-such-page", timeout=10)
    assert missing.status_code == 404 and "URLconf" not in missing.text  # no debug page

    code = "0123456789abcdef0123456789abcdef"  # the shape of the library's codes
    page = http.get(f"https://127.0.0.1:{receiver_port}/", params={"code": code}, timeout=10)
    assert page.status_code == 200 and f'id="code">{code}<' in page.text

    os.killpg(make.pid, signal.SIGINT)  # what Ctrl+C in the terminal sends
    make.wait(timeout=30)
    assert not is_listening(idp_port) and not is_listening(receiver_port), log.read_text()
    output = log.read_text()
    assert '"GET / HTTP/' in output  # the receiver's access log line, without its query
    assert code not in output


def test_make_serve_metrics_add_up_over_its_worker_processes(served):
    _, http, idp_port, _, _ = served
    idp = f"https://localhost:{idp_port}"
    requests_sent = 20
    for _ in range(requests_sent):  # a connection each: spread over granian's workers
        answer = http.get(f"{idp}/oidc/jwks", headers={"Connection": "close"}, timeout=10)
        assert answer.status_code == 200
    scraped = http.get(f"{idp}/metrics", timeout=10)
    assert scraped.status_code == 200
    line = 'idp_requests_total{endpoint="jwks",grant_type="",outcome="ok"} '
    counts = [float(row.split()[-1]) for row in scraped.text.splitlines() if row.startswith(line)]
    assert counts == [requests_sent]  # whichever worker answered the scrape
