"""The side-by-side reference for bench/run.py: panva's oidc-provider under Node.js.

bench/reference/server.mjs serves it over TLS with our CA's server certificate, with the
same kind of public client as ours (PKCE, RS256 ID tokens, a new refresh token on every use).
Its package is installed from bench/reference/package-lock.json by `make bench`, never at run
time. Each virtual user gets its own grant through the provider's real authorization code
flow (its interaction page signs a fixed account in and grants consent without a form), then
a code + PKCE exchange, as ours do.
"""

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
CLIENT_ID = "bench-cli"  # as registered in server.mjs
REDIRECT_URI = "https://127.0.0.1:9/"
MAX_REDIRECTS = 10


def version() -> str:
    """The installed oidc-provider's version, or exit saying how to install it."""
    manifest = REFERENCE_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not manifest.exists():
        sys.exit("oidc-provider is missing: make bench/reference/node_modules/.installed")
    return json.loads(manifest.read_text())["version"]


@contextmanager
def serving(port: int, certs_dir: Path, log: Path) -> Iterator[subprocess.Popen]:
    """server.mjs on 127.0.0.1:port until the block ends; its pid is the one to measure."""
    command = [
        "node",
        str(REFERENCE_DIR / "server.mjs"),
        str(port),
        str(certs_dir / "server.pem"),
        str(certs_dir / "server-key.pem"),
    ]
    with log.open("wb") as errors:
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
    try:
        if server.stdout.readline().strip() != b"listening":
            server.wait()
            sys.exit(f"the reference did not start:\n{log.read_text()}")
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _code_through_interactions(http: requests.Session, url: str, params: dict) -> str:
    """Follow /auth through the provider's interactions to the redirect URI; its code."""
    answer = http.get(f"{url}/auth", params=params, allow_redirects=False, timeout=10)
    for _ in range(MAX_REDIRECTS):
        if answer.status_code not in (302, 303):
            break
        location = urljoin(answer.url, answer.headers["Location"])
        if location.startswith(REDIRECT_URI):
            query = parse_qs(urlsplit(location).query)
            if "code" not in query:
                sys.exit(f"the reference refused the authorization request: {location}")
            return query["code"][0]
        answer = http.get(location, allow_redirects=False, timeout=10)
    sys.exit(f"the reference's authorization flow ended at {answer.status_code}: {answer.text}")


def seed_grants(url: str, ca_file: Path, count: int) -> list[dict[str, str]]:
    """One grant per virtual user, each from its own sign-in (its own session cookie)."""
    from apps.client import pkce
    from tests import flows

    grants = []
    for _ in range(count):
        with requests.Session() as http:
            http.trust_env = False  # REQUESTS_CA_BUNDLE would replace our CA
            http.verify = str(ca_file)
            verifier = pkce.make_verifier()
            # offline_access needs prompt=consent at this provider (OIDC Core 11).
            params = flows.authorize_params(CLIENT_ID, REDIRECT_URI, verifier, prompt="consent")
            code = _code_through_interactions(http, url, params)
            answer = http.post(
                f"{url}/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "client_id": CLIENT_ID,
                    "code_verifier": verifier,
                },
                timeout=10,
            )
            answer.raise_for_status()
            tokens = answer.json()
            grants.append(
                {"refresh_token": tokens["refresh_token"], "access_token": tokens["access_token"]}
            )
    return grants
