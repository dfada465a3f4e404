"""Shared fixtures: real HTTPS servers for both origins, the seed's client, an end user."""

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from werkzeug.serving import BaseWSGIServer, make_server

from apps.demo import certs
from apps.idp import dpop_binding, keys, services
from tests import flows

(Path(django_settings.BASE_DIR) / "var").mkdir(exist_ok=True)  # the test database's folder

END_USER_PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Origins:
    """Where the test servers answer; the IdP and receiver hosts differ, as in the demo."""

    idp_url: str  # https://localhost:PORT
    receiver_url: str  # https://127.0.0.1:PORT/ (the registered redirect URI)
    ca_file: str

    @property
    def issuer(self) -> str:
        return f"{self.idp_url}/oidc"


@pytest.fixture(autouse=True)
def _signing_keys_reread():
    """Each test sees its own RSAKey rows: a rolled-back test leaves no parsed key behind."""
    keys.forget_keys()
    dpop_binding.forget_policies()  # nor which clients required DPoP in a rolled-back test


PROJECT_FILES = (
    Path(django_settings.BASE_DIR) / "var" / "pkce_client_id",
    Path(django_settings.BASE_DIR) / "var" / "resource_server_secret",
)


def _contents(paths) -> list[bytes | None]:
    return [path.read_bytes() if path.exists() else None for path in paths]


@pytest.fixture(scope="session", autouse=True)
def _project_files_unchanged_by_the_run():
    """The suite fails if any test changed the files `make demo` reads (found once: a test
    re-seeded the client and the next demo offered its id)."""
    before = _contents(PROJECT_FILES)
    yield
    assert _contents(PROJECT_FILES) == before, "a test wrote to the project's var/"


@pytest.fixture(autouse=True)
def _project_files_left_alone(settings, tmp_path_factory):
    """What seed_client and seed_resource_server write goes to a throwaway folder: a test
    run must not change the client id or the secret that the next `make demo` uses."""
    scratch = tmp_path_factory.mktemp("var")
    settings.PKCE_CLIENT_ID_FILE = scratch / "pkce_client_id"
    settings.RESOURCE_SERVER_SECRET_FILE = scratch / "resource_server_secret"


@pytest.fixture(scope="session")
def cert_paths(tmp_path_factory) -> certs.CertPaths:
    paths, _ = certs.ensure_certificates(tmp_path_factory.mktemp("certs"))
    return paths


def _serve_tls(app, paths: certs.CertPaths) -> tuple[BaseWSGIServer, threading.Thread]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(paths.server_cert, paths.server_key)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="session")
def _tls_servers(cert_paths) -> Iterator[Origins]:
    """The project's WSGI app under two threaded Werkzeug TLS servers on free loopback ports.

    The same entry point as gunicorn's and runserver_plus's: config.wsgi.application.
    """
    from config.wsgi import application as app

    idp, idp_thread = _serve_tls(app, cert_paths)
    receiver, receiver_thread = _serve_tls(app, cert_paths)
    yield Origins(
        idp_url=f"https://localhost:{idp.server_port}",
        receiver_url=f"https://127.0.0.1:{receiver.server_port}/",
        ca_file=str(cert_paths.ca_cert),
    )
    for server, thread in ((idp, idp_thread), (receiver, receiver_thread)):
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def origins(_tls_servers, transactional_db, settings) -> Origins:
    """Both servers, configured for this test, on a database they can see (committed rows)."""
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    settings.SITE_URL = _tls_servers.idp_url
    settings.OIDC_ISSUER = _tls_servers.issuer
    settings.RECEIVER_URL = _tls_servers.receiver_url
    settings.OIDC_RESOURCES = [f"{_tls_servers.receiver_url}api/profile"]  # the receiver's API
    settings.CSRF_TRUSTED_ORIGINS = [_tls_servers.idp_url]
    services.ensure_signing_keys()
    return _tls_servers


@pytest.fixture
def https(origins) -> Iterator[requests.Session]:
    """A requests session that trusts only the test CA (REQUESTS_CA_BUNDLE is ignored)."""
    with requests.Session() as http:
        http.trust_env = False
        http.verify = origins.ca_file
        yield http


@pytest.fixture
def end_user(django_user_model):
    return django_user_model.objects.create_user(
        username="alice",
        password=END_USER_PASSWORD,
        email="alice@example.com",
        first_name="Alice",
        last_name="Liddell",
    )


@pytest.fixture
def seed_client(origins):
    """The seed's public client, registered with the test receiver's URL."""
    return services.seed_public_client("test-cli", redirect_uri=origins.receiver_url)


@pytest.fixture
def sign_in(origins, https, seed_client, end_user):
    """`sign_in()`: the end user signs in to the seed's client through the code flow and
    gets its tokens (`http`: another browser than the test's `https` session)."""

    def run(http: requests.Session | None = None) -> dict:
        return flows.sign_in_for_tokens(
            http or https,
            origins.idp_url,
            client_id=seed_client.client_id,
            redirect_uri=origins.receiver_url,
            username=end_user.username,
            password=END_USER_PASSWORD,
        )

    return run


@pytest.fixture
def refresh(origins, https, seed_client):
    """`refresh(token)`: the seed's client presents a refresh token; the token response."""

    def run(refresh_token: str, http: requests.Session | None = None) -> requests.Response:
        return flows.refresh(
            http or https,
            origins.idp_url,
            refresh_token=refresh_token,
            client_id=seed_client.client_id,
        )

    return run
