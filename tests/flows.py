"""Walk the authorization endpoint as a browser would, with requests (no JavaScript needed)."""

import os
import subprocess
import sys
import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit

import requests
from django.conf import settings

from apps.client import pkce


class _FormInputs(HTMLParser):
    """Collects the <input> name/value pairs of the first form on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action: str | None = None
        self._forms_seen = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._forms_seen += 1
            if self._forms_seen == 1:
                self.action = attributes.get("action")
        elif tag == "input" and self._forms_seen == 1 and attributes.get("name"):
            if attributes.get("type") != "submit":
                self.fields[attributes["name"]] = attributes.get("value") or ""


def form_inputs(html: str) -> tuple[str | None, dict[str, str]]:
    parser = _FormInputs()
    parser.feed(html)
    return parser.action, parser.fields


def authorize_params(client_id: str, redirect_uri: str, verifier: str, **extra: str) -> dict:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile email offline_access",
        "redirect_uri": redirect_uri,
        "code_challenge": pkce.s256_challenge(verifier),
        "code_challenge_method": "S256",
        "state": "state-123",
        "nonce": "nonce-456",
    }
    params.update(extra)
    return {name: value for name, value in params.items() if value is not None}


def attempt_log_in(
    http: requests.Session, idp_url: str, username: str, password: str
) -> requests.Response:
    """Fill in and send the sign-in form; the answer, whether or not the password was right."""
    login_url = f"{idp_url}/accounts/login/"
    page = http.get(login_url, timeout=10)
    _, fields = form_inputs(page.text)
    fields.update(username=username, password=password)
    return http.post(login_url, data=fields, headers={"Referer": login_url}, timeout=10)


def log_in(http: requests.Session, idp_url: str, username: str, password: str) -> None:
    answer = attempt_log_in(http, idp_url, username, password)
    login_url = f"{idp_url}/accounts/login/"
    assert "Sign in" not in answer.text or answer.url != login_url, "login failed"


def consent(
    http: requests.Session, idp_url: str, params: dict, *, allow: bool = True
) -> dict[str, str]:
    """GET /oidc/authorize (signed in), answer the consent page, return the redirect's params."""
    page = http.get(f"{idp_url}/oidc/authorize", params=params, allow_redirects=False, timeout=10)
    if page.status_code in (301, 302):
        return redirect_params(page.headers["Location"])
    action, fields = form_inputs(page.text)
    if allow:
        fields["allow"] = "Allow"
    url = urljoin(page.url, action)
    answer = http.post(
        url, data=fields, headers={"Referer": page.url}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text[:500]
    return redirect_params(answer.headers["Location"])


def redirect_params(location: str) -> dict[str, str]:
    query = parse_qs(urlsplit(location).query)
    return {name: values[0] for name, values in query.items()}


def authorization_code(
    http: requests.Session,
    idp_url: str,
    params: dict,
    username: str,
    password: str,
) -> dict[str, str]:
    """Sign in, consent, and return what the IdP sent to the redirect URI."""
    log_in(http, idp_url, username, password)
    return consent(http, idp_url, params)


def token_request(http: requests.Session, idp_url: str, **form: str) -> requests.Response:
    return http.post(
        f"{idp_url}/oidc/token",
        data=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )


def exchange_code(
    http: requests.Session,
    idp_url: str,
    *,
    code: str,
    verifier: str,
    client_id: str,
    redirect_uri: str,
) -> requests.Response:
    return token_request(
        http,
        idp_url,
        grant_type="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        client_id=client_id,
        code_verifier=verifier,
    )


def redeem(
    http: requests.Session, idp_url: str, params: dict, answer: dict, verifier: str
) -> requests.Response:
    """Exchange the code of `answer`, from the authorization request `params`, with PKCE."""
    return exchange_code(
        http,
        idp_url,
        code=answer["code"],
        verifier=verifier,
        client_id=params["client_id"],
        redirect_uri=params["redirect_uri"],
    )


def refresh(
    http: requests.Session, idp_url: str, *, refresh_token: str, client_id: str
) -> requests.Response:
    return token_request(
        http, idp_url, grant_type="refresh_token", refresh_token=refresh_token, client_id=client_id
    )


def sign_in_for_tokens(
    http: requests.Session,
    idp_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
) -> dict:
    """The whole front and back channel: sign in, consent, exchange the code with PKCE."""
    verifier = pkce.make_verifier()
    params = authorize_params(client_id, redirect_uri, verifier)
    answer = authorization_code(http, idp_url, params, username, password)
    tokens = redeem(http, idp_url, params, answer, verifier)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def client_flags(origins, client_id: str = "test-cli") -> list[str]:
    """The pkce_client flags that point it at the test servers as `client_id`."""
    return [
        "--issuer",
        origins.issuer,
        "--client-id",
        client_id,
        "--redirect-uri",
        origins.receiver_url,
        "--ca-file",
        origins.ca_file,
    ]


def start_pkce_client(
    origins, *args: str, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
) -> subprocess.Popen:
    """`manage.py pkce_client` as a person starts it in a terminal, pointed at the test
    servers: its stdin and stdout (stderr merged, unless told) are pipes, text, unbuffered."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "pkce_client", *client_flags(origins), *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


class LoopbackBrowser:
    """A scripted stand-in for the browser `--loopback` opens, for tests about what the client
    keeps rather than what a person clicks (those drive Chromium): signs in as alice, consents,
    and follows the IdP's redirect to the command's own 127.0.0.1 receiver, in a thread."""

    def __init__(self, origins, password: str) -> None:
        self.origins = origins
        self.password = password
        self.refused_by_idp = ""
        self.pages: list[int] = []
        self.thread: threading.Thread | None = None

    def __call__(self, url: str) -> bool:
        self.thread = threading.Thread(target=self.browse, args=(url,), daemon=True)
        self.thread.start()
        return True

    def browse(self, url: str) -> None:
        params = dict(parse_qsl(urlsplit(url).query))
        with requests.Session() as http:
            http.trust_env = False
            http.verify = self.origins.ca_file
            log_in(http, self.origins.idp_url, "alice", self.password)
            page = http.get(url, allow_redirects=False, timeout=10)
            if page.status_code not in (301, 302) and 'name="allow"' not in page.text:
                self.refused_by_idp = f"HTTP {page.status_code}"
                answer = {
                    "error": "invalid_request",
                    "state": params["state"],
                    "iss": self.origins.issuer,
                }
            else:
                answer = consent(http, self.origins.idp_url, params)
            back = http.get(params["redirect_uri"], params=answer, timeout=10)
            self.pages.append(back.status_code)
