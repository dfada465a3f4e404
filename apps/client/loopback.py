"""Sign-in through a loopback redirect (RFC 8252 §7.3): the browser brings the code back itself.

The client listens on 127.0.0.1 on a port the OS picks and registers nothing new: the IdP
accepts `http://127.0.0.1/callback` with any port (RFC 8252 §7.3). A response that fails a
check (state, iss) is refused on the page and the client goes on waiting, up to a timeout.
"""

import dataclasses
import html
import queue
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import requests

from apps.client import oidc, pkce
from apps.client.dpop import DPoPKey
from apps.client.errors import ClientAbort
from apps.client.signin import SignedIn
from apps.client.terminal import Terminal

CALLBACK_PATH = "/callback"
DEFAULT_TIMEOUT_SECONDS = 300.0
_POLL_SECONDS = 0.25  # how often the waiting main thread looks up (Ctrl+C stays prompt)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>{title}</h1><p>{text}</p></body></html>
"""


def page(title: str, text: str) -> bytes:
    return _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()


@dataclass(frozen=True)
class Verdict:
    """What the receiver thread makes of one request to the callback."""

    status: int
    body: bytes
    result: oidc.PastedResponse | oidc.OAuthError | None = None  # None: keep waiting


Check = Callable[[str], Verdict]  # the request's path and query -> the answer


def check_callback(path_and_query: str, *, state: str, issuer: str, iss_required: bool) -> Verdict:
    """A request to the callback: the code (state and iss checked), an error, or a refusal."""
    try:
        pasted = oidc.parse_pasted_response(
            f"http://127.0.0.1{path_and_query}",
            state=state,
            issuer=issuer,
            iss_required=iss_required,
        )
    except oidc.OAuthError as exc:
        return Verdict(
            200,
            page("Sign-in did not complete", f"{exc}. You may close this tab."),
            result=exc,
        )
    except oidc.OIDCError as exc:  # state or iss mismatch, no code: not our answer
        return Verdict(
            400,
            page(
                "Refused",
                f"This is not the answer to the sign-in the command line is waiting for: {exc}. "
                "The command line keeps waiting.",
            ),
        )
    return Verdict(
        200,
        page("Signed in", "You are signed in on the command line. You may close this tab."),
        result=pasted,
    )


class LoopbackReceiver:
    """An HTTP server on 127.0.0.1 (OS-chosen port), in a thread, while the `with` lasts."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.results: queue.Queue[oidc.PastedResponse | oidc.OAuthError] = queue.Queue()
        self.check: Check | None = None
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                if path != CALLBACK_PATH or receiver.check is None:
                    verdict = Verdict(404, page("Not found", "Nothing here."))
                else:
                    verdict = receiver.check(self.path)
                if verdict.result is None and verdict.status == 400:
                    receiver.refused += 1
                self.send_response(verdict.status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(verdict.body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(verdict.body)
                if verdict.result is not None:
                    receiver.results.put(verdict.result)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the terminal is the client's, not the server's access log

        self.server = HTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    def __enter__(self) -> "LoopbackReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def wait(
        self, *, timeout: float, monotonic: Callable[[], float] = time.monotonic
    ) -> oidc.PastedResponse | oidc.OAuthError | None:
        """The first accepted answer, or None after `timeout` seconds."""
        deadline = monotonic() + timeout
        while True:
            left = deadline - monotonic()
            if left <= 0:
                return None
            try:
                return self.results.get(timeout=min(_POLL_SECONDS, left))
            except queue.Empty:
                continue


@dataclass
class LoopbackSignIn:
    """Open (or print) the URL; the browser comes back to our receiver with the code."""

    terminal: Terminal
    receiver: LoopbackReceiver
    open_browser: bool = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    open_url: Callable[[str], bool] = webbrowser.open
    now: Callable[[], float] = time.time
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def __call__(
        self,
        http: requests.Session,
        provider: oidc.Provider,
        rp: oidc.RelyingParty,
        dpop: DPoPKey | None = None,
    ) -> SignedIn:
        rp = dataclasses.replace(rp, redirect_uri=self.receiver.redirect_uri)
        verifier = pkce.make_verifier()
        request = oidc.start_authorization(
            provider, rp, code_verifier=verifier, code_challenge=pkce.s256_challenge(verifier)
        )

        def check(path: str) -> Verdict:
            verdict = check_callback(
                path,
                state=request.state,
                issuer=provider.issuer,
                iss_required=provider.authorization_response_iss_parameter_supported,
            )
            if verdict.result is None:
                self.terminal.warn(
                    "Refused a browser request that does not answer this sign-in "
                    "(state or iss); still waiting."
                )
            return verdict

        self.receiver.check = check
        say = self.terminal.say
        say()
        say("Open this URL in your browser, sign in, and allow access:")
        say()
        say(f"  {request.url}")
        say()
        if self.open_browser:
            if self.open_url(request.url):
                say("(Opened in your browser.)")
            else:
                say("(No browser could be opened from here: open the URL yourself.)")
        minutes = f"{self.timeout / 60:g} min"
        say(f"Waiting for the browser at {self.receiver.redirect_uri} (up to {minutes}) …")
        result = self.receiver.wait(timeout=self.timeout, monotonic=self.monotonic)
        if result is None:
            raise ClientAbort(
                f"No answer from the browser within {minutes}: no tokens were issued. "
                "Run the client again (or with --timeout for longer)."
            )
        if isinstance(result, oidc.OAuthError):
            hint = (
                " (Deny was chosen on the consent page.)" if result.error == "access_denied" else ""
            )
            raise ClientAbort(
                f"Sign-in did not complete: {result}.{hint} Run the client again to retry."
            )
        checked = "state" + (" and iss" if result.iss_checked else "") + " checked"
        self.terminal.say(f"Code {oidc.short(result.code)} received ({checked}).")
        tokens = oidc.exchange_code(
            http,
            provider,
            rp,
            code=result.code,
            code_verifier=verifier,
            now=self.now(),
            dpop=dpop,
        )
        return SignedIn(tokens=tokens, nonce=request.nonce)
