"""Faults a production IdP survives: PostgreSQL going away, a worker process killed.

A real granian server on the PostgreSQL test database. For the database outage a TCP proxy
stands between the IdP and PostgreSQL and is cut, which the IdP sees exactly as a stopped
server: kept connections reset, new ones refused.
"""

import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.db import connection

from apps.idp import policy, services
from apps.idp.models import Grant, IssuedToken
from tests import flows
from tests import instances as granian
from tests.conftest import END_USER_PASSWORD, Origins
from tests.integration.test_client_command import Person, run_client
from tests.ports import free_port

pytestmark = granian.ON_POSTGRESQL

REDIRECT_URI = "https://127.0.0.1:9/"  # registered, never followed: the test reads Location
RECOVERY_SECONDS = 20


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    database: granian.TcpProxy
    log: Path
    http: requests.Session = field(default_factory=requests.Session)


@pytest.fixture
def server(transactional_db, cert_paths, tmp_path) -> Iterator[Server]:
    """One IdP instance (two workers, kept database connections) behind a cuttable proxy."""
    services.ensure_signing_keys()
    database = granian.TcpProxy(int(connection.settings_dict["PORT"]))
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": granian.test_database_url(database.port),
        "OIDC_SITE_URL": f"https://localhost:{port}",
        "RECEIVER_URL": REDIRECT_URI,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
        "DJANGO_DEBUG": "0",
        "DJANGO_CONN_MAX_AGE": "60",  # as make serve: connections outlive requests
        "SERVER_CERT": str(cert_paths.server_cert),
        "SERVER_KEY": str(cert_paths.server_key),
    }
    log = tmp_path / "idp.log"
    process = granian.start_instance(port, env, log)
    server = Server(f"https://localhost:{port}", process, database, log)
    server.http.trust_env = False
    server.http.verify = str(cert_paths.ca_cert)
    try:
        granian.wait_until_serving(port, str(cert_paths.ca_cert), process, log)
        yield server
    finally:
        granian.stop(process)
        database.close()
        server.http.close()


@pytest.fixture
def tokens(server, end_user) -> dict:
    oidc_client = services.seed_public_client("faults-cli", redirect_uri=REDIRECT_URI)
    answer = flows.sign_in_for_tokens(
        server.http,
        server.url,
        client_id=oidc_client.client_id,
        redirect_uri=REDIRECT_URI,
        username=end_user.username,
        password=END_USER_PASSWORD,
    )
    return answer | {"client_id": oidc_client.client_id}


def refresh(server: Server, tokens: dict, refresh_token: str) -> requests.Response:
    return flows.refresh(
        server.http, server.url, refresh_token=refresh_token, client_id=tokens["client_id"]
    )


def live_tokens_of(refresh_token: str) -> int:
    grant = Grant.objects.get(family=policy.refresh_token_family(refresh_token))
    assert grant.revoked_at is None
    return IssuedToken.objects.filter(grant=grant).count()


def test_postgresql_away_is_a_503_to_retry_and_all_recovers_by_itself(server, tokens):
    server.database.cut()
    for _ in range(4):  # the kept connections fail first, then new ones are refused
        answer = refresh(server, tokens, tokens["refresh_token"])
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "temporarily_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
    assert server.http.get(f"{server.url}/readyz", timeout=10).status_code == 503

    server.database.restore()
    deadline = time.monotonic() + RECOVERY_SECONDS
    while (answer := refresh(server, tokens, tokens["refresh_token"])).status_code == 503:
        assert time.monotonic() < deadline, "the IdP did not recover"
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
    assert server.http.get(f"{server.url}/readyz", timeout=10).status_code == 200
    rotated = answer.json()["refresh_token"]
    assert refresh(server, tokens, rotated).status_code == 200
    assert live_tokens_of(rotated) == 1  # one family, not forked by the outage


def test_userinfo_answered_by_the_front_is_a_503_while_postgresql_is_away(server, tokens):
    def userinfo() -> requests.Response:
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        return server.http.get(f"{server.url}/oidc/userinfo", headers=bearer, timeout=10)

    answer = userinfo()  # config.fast_lane's answer: with the headers Django's would have
    assert answer.status_code == 200 and answer.json()["sub"], answer.text
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
    assert answer.headers["X-Request-ID"] and answer.headers["Cache-Control"] == "no-store"

    server.database.cut()
    for _ in range(4):
        answer = userinfo()
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "temporarily_unavailable"
    server.database.restore()
    deadline = time.monotonic() + RECOVERY_SECONDS
    while (answer := userinfo()).status_code == 503:
        assert time.monotonic() < deadline, "userinfo did not recover"
        time.sleep(0.5)
    assert answer.status_code == 200, answer.text
    log = server.log.read_text()
    assert "The userinfo fast lane failed; Django answers this request." in log
    assert tokens["access_token"] not in log


def worker_pids(process: subprocess.Popen) -> set[int]:
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text()
    return {int(pid) for pid in children.split()}


def test_a_worker_killed_under_load_is_replaced_and_no_family_forks(server, tokens, end_user):
    chains = [tokens] + [
        flows.sign_in_for_tokens(
            server.http,
            server.url,
            client_id=tokens["client_id"],
            redirect_uri=REDIRECT_URI,
            username=end_user.username,
            password=END_USER_PASSWORD,
        )
        | {"client_id": tokens["client_id"]}
        for _ in range(3)
    ]
    statuses: list[int | str] = []
    stop = threading.Event()

    def keep_refreshing(chain: dict) -> None:
        with requests.Session() as http:
            http.trust_env, http.verify = False, server.http.verify
            current = chain["refresh_token"]
            while not stop.is_set():
                try:
                    answer = flows.refresh(
                        http, server.url, refresh_token=current, client_id=chain["client_id"]
                    )
                except requests.ConnectionError:
                    statuses.append("connection lost")
                    continue
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    current = answer.json()["refresh_token"]
            chain["last"] = current

    threads = [threading.Thread(target=keep_refreshing, args=(chain,)) for chain in chains]
    for thread in threads:
        thread.start()
    time.sleep(1)
    before = worker_pids(server.process)
    os.kill(sorted(before)[0], signal.SIGKILL)
    deadline = time.monotonic() + RECOVERY_SECONDS
    while len(worker_pids(server.process) - before) < 1:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    assert 500 not in statuses and statuses.count(200) > len(chains)
    assert len(worker_pids(server.process)) == 2
    for chain in chains:
        assert live_tokens_of(chain["refresh_token"]) == 1  # every grant alive, none forked


class PersonBeforeAnOutage(Person):
    """Pastes the code, then PostgreSQL goes away for 3 s: timed from the paste, so a slow
    sign-in (password hashing, consent) cannot put the outage before the client has tokens."""

    def __init__(self, stdout: StringIO, origins, server: Server) -> None:
        super().__init__(stdout, origins)
        self.outage = threading.Timer(1.0, server.database.cut)
        self.back = threading.Timer(4.0, server.database.restore)

    def readline(self) -> str:
        answer = super().readline()
        if not self.outage.is_alive() and not self.outage.finished.is_set():  # first paste
            self.outage.start()
            self.back.start()
        return answer


def test_pkce_client_rides_out_a_postgresql_outage(server, end_user, monkeypatch):
    """The real client, refreshing every half second, while the database is away for 3 s."""
    services.seed_public_client("test-cli", redirect_uri=REDIRECT_URI)
    origins = Origins(idp_url=server.url, receiver_url=REDIRECT_URI, ca_file=server.http.verify)
    person = PersonBeforeAnOutage(StringIO(), origins, server)
    outage, back = person.outage, person.back
    try:
        out, err = run_client(
            origins, monkeypatch, "--interval", "0.5", "--max-refreshes", "12", person=person
        )
    finally:
        outage.cancel()
        back.cancel()
    assert "refresh 12:" in out  # every refresh done, the outage ridden out
    assert "retry" in err and "503" in err  # said, a line per retry
    assert "revoked at" in out
