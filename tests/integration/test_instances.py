"""Two IdP instances (real granian servers over TLS) on one PostgreSQL database.

They stand behind a small TCP load balancer, as they would in production: the client only
ever sees one origin (https://localhost:LB_PORT, the issuer both instances are configured
with), and TLS ends at the instance. The balancer hands each new connection to the next
instance, or to the one a test pins; requests here close their connection after each
answer, so every request is routed afresh and the balancer's log says who served it.
"""

import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

import jwt
import pytest
import requests

from apps.client import pkce
from apps.idp import services
from tests import flows
from tests import instances as granian
from tests.conftest import END_USER_PASSWORD
from tests.ports import free_port

pytestmark = granian.ON_POSTGRESQL

REDIRECT_URI = "https://127.0.0.1:9/"  # registered, never followed: the test reads Location
CONCURRENT_REFRESHES = 8


@dataclass
class Balancer:
    """A TCP round-robin proxy on loopback; TLS passes through untouched.

    Like a production balancer it asks each instance's /readyz (`check_health`) and sends
    new connections only to the instances that answered ok.
    """

    backends: dict[str, int]  # name -> port
    public_host: str = ""  # the Host header the instances answer to
    ca_file: str = ""
    pinned: str | None = None
    served: list[str] = field(default_factory=list)
    out: set[str] = field(default_factory=set)  # failed their last health check

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._next = cycle(self.backends)
        self._lock = threading.Lock()
        threading.Thread(
            target=granian.forward_connections, args=(self._listener, self._route), daemon=True
        ).start()

    def _pick(self) -> str | None:
        if self.pinned:
            return self.pinned
        healthy = [name for name in self.backends if name not in self.out]
        while healthy:
            name = next(self._next)
            if name in healthy:
                return name
        return None

    def _route(self) -> int | None:
        with self._lock:
            name = self._pick()
            if name is None:
                return None  # nobody healthy: refuse, as a balancer would
            self.served.append(name)
            return self.backends[name]

    def check_health(self) -> None:
        for name, port in self.backends.items():
            try:
                answer = requests.get(
                    f"https://localhost:{port}/readyz",
                    headers={"Host": self.public_host},
                    verify=self.ca_file,
                    timeout=2,
                )
                ready = answer.status_code == 200
            except requests.RequestException:
                ready = False
            with self._lock:
                (self.out.discard if ready else self.out.add)(name)

    def pin(self, name: str | None) -> None:
        self.pinned = name

    def close(self) -> None:
        self._listener.close()


@dataclass
class Instances:
    """The granian processes behind the balancer, which a test may stop and start again."""

    ports: dict[str, int]
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str) -> None:
        log = self.logs / f"{name}.log"
        self.processes[name] = granian.start_instance(self.ports[name], self.env, log)
        granian.wait_until_serving(self.ports[name], self.env["CA_FILE"], self.processes[name], log)

    def stop(self, name: str) -> None:
        granian.stop(self.processes.pop(name))


@dataclass(frozen=True)
class Deployment:
    balancer: Balancer
    public_url: str  # the one origin clients see
    ca_file: str
    instances: Instances

    @property
    def issuer(self) -> str:
        return f"{self.public_url}/oidc"


@pytest.fixture(scope="module")
def deployment(django_db_setup, cert_paths, tmp_path_factory) -> Iterator[Deployment]:
    ports = {"A": free_port(), "B": free_port()}
    balancer = Balancer(ports, ca_file=str(cert_paths.ca_cert))
    balancer.public_host = f"localhost:{balancer.port}"
    public_url = f"https://{balancer.public_host}"
    env = {
        **os.environ,
        "DATABASE_URL": granian.test_database_url(),
        "OIDC_SITE_URL": public_url,  # the same issuer on both: the balancer's origin
        "RECEIVER_URL": REDIRECT_URI,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),  # shared: sessions, CSRF cookies
        "DJANGO_DEBUG": "0",
        # Each test replaces the key table, which a deployment never does without waiting out
        # the TTL (apps/idp/keys.py): re-read it on every signature here.
        "OIDC_SIGNING_KEYS_TTL_SECONDS": "0",
        "SERVER_CERT": str(cert_paths.server_cert),
        "SERVER_KEY": str(cert_paths.server_key),
        "CA_FILE": str(cert_paths.ca_cert),
    }
    instances = Instances(ports, env, tmp_path_factory.mktemp("instances"))
    try:
        for name in ports:
            instances.start(name)
        yield Deployment(balancer, public_url, str(cert_paths.ca_cert), instances)
    finally:
        balancer.close()
        for name in list(instances.processes):
            instances.stop(name)


@pytest.fixture
def shared(deployment, transactional_db) -> Deployment:
    """The deployment, with a signing key and an empty balancer log, on committed rows."""
    services.ensure_signing_keys()
    deployment.balancer.pin(None)
    deployment.balancer.served.clear()
    deployment.balancer.out.clear()
    return deployment


@pytest.fixture
def oidc_client(shared):
    return services.seed_public_client("instances-cli", redirect_uri=REDIRECT_URI)


def _session(deployment: Deployment) -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would replace our CA
    http.verify = deployment.ca_file
    http.headers["Connection"] = "close"  # one request per connection: the balancer routes each
    return http


def _sign_in_and_get_tokens(
    deployment: Deployment, http: requests.Session, oidc_client, end_user
) -> dict:
    return flows.sign_in_for_tokens(
        http,
        deployment.public_url,
        client_id=oidc_client.client_id,
        redirect_uri=REDIRECT_URI,
        username=end_user.username,
        password=END_USER_PASSWORD,
    )


def _refresh(deployment: Deployment, http: requests.Session, client_id: str, refresh_token: str):
    return flows.refresh(
        http, deployment.public_url, refresh_token=refresh_token, client_id=client_id
    )


def test_session_and_grant_started_on_one_instance_continue_on_the_other(
    shared, oidc_client, end_user
):
    balancer = shared.balancer
    verifier = pkce.make_verifier()
    params = flows.authorize_params(oidc_client.client_id, REDIRECT_URI, verifier)
    with _session(shared) as http:
        balancer.pin("A")
        flows.log_in(http, shared.public_url, end_user.username, END_USER_PASSWORD)
        assert set(balancer.served) == {"A"}

        balancer.pin("B")  # B knows the session A started, and B's consent page works
        served_before = len(balancer.served)
        answer = flows.consent(http, shared.public_url, params)
        assert answer["code"] and answer["state"] == "state-123"
        tokens = flows.redeem(http, shared.public_url, params, answer, verifier)
        assert tokens.status_code == 200, tokens.text
        assert set(balancer.served[served_before:]) == {"B"}

        refresh_token = tokens.json()["refresh_token"]
        for name in "ABAB":
            balancer.pin(name)
            refreshed = _refresh(shared, http, oidc_client.client_id, refresh_token)
            assert refreshed.status_code == 200, f"refresh on {name}: {refreshed.text}"
            assert balancer.served[-1] == name
            refresh_token = refreshed.json()["refresh_token"]

        balancer.pin("A")
        userinfo = http.get(
            f"{shared.issuer}/userinfo",
            headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
            timeout=10,
        )
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["preferred_username"] == end_user.username


def test_concurrent_refreshes_of_one_token_across_instances_give_one_success(
    shared, oidc_client, end_user
):
    with _session(shared) as http:
        tokens = _sign_in_and_get_tokens(shared, http, oidc_client, end_user)
    shared.balancer.pin(None)  # round robin from here
    served_before = len(shared.balancer.served)
    start = threading.Barrier(CONCURRENT_REFRESHES)

    def refresh_once(_: int) -> int:
        with _session(shared) as http:
            start.wait(timeout=10)
            return _refresh(
                shared, http, oidc_client.client_id, tokens["refresh_token"]
            ).status_code

    with ThreadPoolExecutor(max_workers=CONCURRENT_REFRESHES) as pool:
        statuses = list(pool.map(refresh_once, range(CONCURRENT_REFRESHES)))

    assert set(shared.balancer.served[served_before:]) == {"A", "B"}
    assert 500 not in statuses
    assert statuses.count(200) == 1, statuses


def test_both_instances_publish_the_same_jwks_and_sign_with_the_same_key(
    shared, oidc_client, end_user
):
    balancer = shared.balancer
    jwks = {}
    id_tokens = {}
    for name in "AB":
        balancer.pin(name)
        with _session(shared) as http:
            jwks[name] = http.get(f"{shared.issuer}/jwks", timeout=10).json()
            id_tokens[name] = _sign_in_and_get_tokens(shared, http, oidc_client, end_user)[
                "id_token"
            ]
        assert set(balancer.served) == {name}
        balancer.served.clear()

    assert jwks["A"] == jwks["B"] and jwks["A"]["keys"]
    keys = {key["kid"]: jwt.PyJWK(key) for key in jwks["A"]["keys"]}
    for name, id_token in id_tokens.items():
        kid = jwt.get_unverified_header(id_token)["kid"]
        claims = jwt.decode(
            id_token, keys[kid], algorithms=["RS256"], audience=oidc_client.client_id
        )
        assert claims["iss"] == shared.issuer, name


def test_the_balancer_takes_a_stopped_instance_out_and_back_in_by_readyz(
    shared, oidc_client, end_user
):
    balancer, instances = shared.balancer, shared.instances
    balancer.check_health()
    assert balancer.out == set()

    instances.stop("B")
    balancer.check_health()
    assert balancer.out == {"B"}
    with _session(shared) as http:  # round robin, yet every connection goes to A
        tokens = _sign_in_and_get_tokens(shared, http, oidc_client, end_user)
    assert set(balancer.served) == {"A"}

    instances.start("B")
    balancer.check_health()
    assert balancer.out == set()
    refresh_token = tokens["refresh_token"]
    with _session(shared) as http:
        for _ in range(2):
            refreshed = _refresh(shared, http, oidc_client.client_id, refresh_token)
            assert refreshed.status_code == 200, refreshed.text
            refresh_token = refreshed.json()["refresh_token"]
    assert "B" in balancer.served[-2:]
