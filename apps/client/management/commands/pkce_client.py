"""The seed's command-line client: sign in with Authorization Code + PKCE, then keep refreshing."""

import argparse
import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.client import oidc, pkce, schedule

DEFAULT_SCOPE = "openid profile email offline_access"
PASTE_ATTEMPTS = 3
EXIT_INTERRUPTED = 130  # what a shell reports for a program ended by Ctrl+C (128 + SIGINT)
TIME_CLAIMS = ("exp", "iat", "auth_time", "nbf", "updated_at")
CHECKED_CLAIMS = ("nonce", "at_hash")  # shown as checked, not as values

T = TypeVar("T")


class Stopped(KeyboardInterrupt):
    """SIGINT (Ctrl+C) or SIGTERM: end the way Ctrl+C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


def _raise_stopped(signum: int, frame: Any) -> None:
    raise Stopped(signum)


@contextmanager
def _signals_stop_the_client() -> Iterator[None]:
    """Ctrl+C and SIGTERM raise Stopped, even where a parent shell ignored SIGINT."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in previous:
        signal.signal(number, _raise_stopped)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


def _time_of_day() -> str:
    """The start of a progress line, in UTC like every other time the client shows."""
    return datetime.now(UTC).strftime("%H:%M:%S")


def _when(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "no expiry given"
    return f"expires {_clock(epoch)}, in {round(epoch - now)} s"


@dataclass
class _Session:
    """What the client holds once signed in."""

    provider: oidc.Provider
    rp: oidc.RelyingParty
    keys: oidc.SigningKeys
    nonce: str
    tokens: oidc.Tokens
    sub: str = ""
    refreshes: int = 0


class Command(BaseCommand):
    help = "Sign in at the IdP as a public client (Authorization Code + PKCE), then refresh."

    # Seams for tests: how the command waits, and how long it backs off.
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    retry_delays: Callable[[], Iterator[float]] = staticmethod(schedule.retry_delays)

    def add_arguments(self, parser):
        parser.add_argument(
            "--issuer",
            default=settings.OIDC_ISSUER,
            help="The IdP's issuer URL (default: %(default)s).",
        )
        parser.add_argument(
            "--client-id",
            help="The public client's id (default: PKCE_CLIENT_ID, else the id seed_client "
            f"wrote to {settings.PKCE_CLIENT_ID_FILE}).",
        )
        parser.add_argument(
            "--redirect-uri",
            default=settings.RECEIVER_URL,
            help="Registered redirect URI, the receiver page (default: %(default)s).",
        )
        parser.add_argument(
            "--scope", default=DEFAULT_SCOPE, help="Scopes to ask for (default: %(default)s)."
        )
        parser.add_argument(
            "--ca-file",
            default=str(settings.OIDC_CA_BUNDLE),
            help="CA certificate(s) to trust for the IdP, PEM (default: %(default)s).",
        )
        parser.add_argument(
            "--interval",
            type=_positive_seconds,
            default=60.0,
            help="Seconds between refreshes (default: %(default)g).",
        )
        parser.add_argument(
            "--max-refreshes",
            type=_count,
            metavar="N",
            help="Stop after N refreshes (default: refresh until Ctrl+C).",
        )
        parser.add_argument(
            "--code", help="The authorization code or the receiver's URL: skips the prompt."
        )
        parser.add_argument(
            "--open",
            action="store_true",
            dest="open_browser",
            help="Open the authorization URL in the system's browser.",
        )

    def say(self, text: str = "", style: Callable[[str], str] | None = None) -> None:
        """One line to stdout, flushed: a person (or a test) is reading as it goes."""
        self.stdout.write(style(text) if style else text)
        self.stdout.flush()

    def handle(self, *args, **options):
        rp = oidc.RelyingParty(
            client_id=self.client_id(options["client_id"]),
            redirect_uri=options["redirect_uri"],
            scope=options["scope"],
        )
        ca_file = self.ca_file(options["ca_file"])
        started = time.monotonic()
        with requests.Session() as http, _signals_stop_the_client():
            # Ours, not the environment's: REQUESTS_CA_BUNDLE would override `verify`.
            http.trust_env = False
            http.verify = ca_file
            session = self.sign_in(http, rp, options["issuer"], options)
            self.stay_signed_in(http, session, options, started)

    # --- configuration

    def client_id(self, given: str | None) -> str:
        if given:
            return given
        if settings.PKCE_CLIENT_ID:
            return settings.PKCE_CLIENT_ID
        id_file = Path(settings.PKCE_CLIENT_ID_FILE)
        remembered = id_file.read_text().strip() if id_file.is_file() else ""
        if remembered:
            return remembered
        raise CommandError(
            "No client id. Pass --client-id, or set PKCE_CLIENT_ID, or run `make demo` "
            f"(its seed_client registers the client and writes its id to {id_file})."
        )

    def ca_file(self, path: str) -> str:
        if not Path(path).is_file():
            raise CommandError(
                f"CA file {path} not found. `make demo` creates the demo's CA in certs/ca.pem; "
                "otherwise pass --ca-file (or set OIDC_CA_BUNDLE) to the CA that signed the "
                "IdP's certificate."
            )
        return path

    # --- before tokens exist: Ctrl+C exits 130

    def sign_in(
        self, http: requests.Session, rp: oidc.RelyingParty, issuer: str, options: dict
    ) -> _Session:
        try:
            provider = self.discover(http, issuer)
            self.say(f"Client id     {rp.client_id}")
            self.say(f"Redirect URI  {rp.redirect_uri}")
            verifier = pkce.make_verifier()
            request = oidc.start_authorization(
                provider, rp, code_verifier=verifier, code_challenge=pkce.s256_challenge(verifier)
            )
            self.show_authorization_url(request.url, open_browser=options["open_browser"])
            pasted = self.read_code(request, provider, options["code"])
            tokens = oidc.exchange_code(
                http,
                provider,
                rp,
                code=pasted.code,
                code_verifier=request.code_verifier,
                now=time.time(),
            )
        except KeyboardInterrupt:
            raise CommandError(
                "\nStopped before sign-in finished: no tokens were issued to this client.",
                returncode=EXIT_INTERRUPTED,
            ) from None
        except oidc.OIDCError as exc:
            raise CommandError(f"Sign-in failed: {exc}") from exc
        self.say(
            f"Tokens received: access token {oidc.token_tag(tokens.access_token)} "
            f"({_when(tokens.expires_at, time.time())}), "
            f"refresh token {oidc.token_tag(tokens.refresh_token)}, ID token.",
            self.style.SUCCESS,
        )
        return _Session(
            provider=provider,
            rp=rp,
            keys=oidc.SigningKeys(http, provider),
            nonce=request.nonce,
            tokens=tokens,
        )

    def discover(self, http: requests.Session, issuer: str) -> oidc.Provider:
        try:
            provider = oidc.discover(http, issuer)
        except oidc.TransientError as exc:
            raise CommandError(
                f"Cannot reach the IdP: {exc}. Is it running (`make demo` in another "
                "terminal)? Otherwise pass --issuer."
            ) from exc
        except oidc.OIDCError as exc:
            raise CommandError(f"Discovery at {issuer} failed: {exc}") from exc
        revocation = provider.revocation_endpoint or "none advertised"
        self.say(f"Issuer        {provider.issuer} (discovery OK; revocation: {revocation})")
        return provider

    def show_authorization_url(self, url: str, *, open_browser: bool) -> None:
        self.say()
        self.say("Open this URL in your browser, sign in, and allow access:")
        self.say()
        self.say(f"  {url}")
        self.say()
        if open_browser and not webbrowser.open(url):
            self.say("(No browser could be opened from here: open the URL yourself.)")

    def read_code(
        self, request: oidc.AuthorizationRequest, provider: oidc.Provider, given: str | None
    ) -> oidc.PastedResponse:
        """The code from --code or the prompt; unreadable input is asked for again."""
        if given is not None:
            return self.parse_code(given, request, provider)
        self.say("The receiver page then shows a code. Paste it, or the page's whole address.")
        for _attempt in range(PASTE_ATTEMPTS):
            self.stdout.write("Authorization code: ", ending="")
            self.stdout.flush()
            line = sys.stdin.readline()
            if not line:  # end of input: Ctrl+D, or a closed pipe
                raise CommandError(
                    "\nNo code entered (end of input). Run the client again to sign in."
                )
            try:
                return self.parse_code(line, request, provider, retry=True)
            except oidc.UnreadablePaste as exc:
                self.stderr.write(f"{_sentence(str(exc))} Try again, or Ctrl+C to quit.")
        raise CommandError(f"No usable code after {PASTE_ATTEMPTS} tries. Run the client again.")

    def parse_code(
        self,
        text: str,
        request: oidc.AuthorizationRequest,
        provider: oidc.Provider,
        *,
        retry: bool = False,
    ) -> oidc.PastedResponse:
        try:
            pasted = oidc.parse_pasted_response(
                text,
                state=request.state,
                issuer=provider.issuer,
                iss_required=provider.authorization_response_iss_parameter_supported,
            )
        except oidc.OAuthError as exc:
            hint = " (Deny was chosen on the consent page.)" if exc.error == "access_denied" else ""
            raise CommandError(
                f"Sign-in did not complete: {exc}.{hint} Run the client again to retry."
            ) from exc
        except oidc.OIDCError as exc:
            if retry and isinstance(exc, oidc.UnreadablePaste):
                raise  # the prompt asks again
            raise CommandError(f"Refusing the pasted response: {exc}.") from exc
        if pasted.state_checked:
            checked = "state" + (" and iss" if pasted.iss_checked else "") + " checked"
        else:
            checked = "a bare code: state and iss cannot be checked, the whole URL would allow it"
        self.say(f"Code {oidc.short(pasted.code)} accepted ({checked}).")
        return pasted

    # --- once tokens exist: Ctrl+C exits 0, after revoking the refresh token

    def stay_signed_in(
        self, http: requests.Session, session: _Session, options: dict, started: float
    ) -> None:
        failure: oidc.OIDCError | None = None
        stopped_by = ""
        try:
            self.show_identity(http, session)
            self.refresh_until_stopped(
                http, session, interval=options["interval"], limit=options["max_refreshes"]
            )
        except KeyboardInterrupt as exc:
            stopped_by = getattr(exc, "signal_name", "SIGINT")
        except oidc.OIDCError as exc:
            failure = exc
        if stopped_by:
            self.say(f"\nStopping ({stopped_by}).")
        dead = isinstance(failure, oidc.InvalidGrant)  # nothing left to revoke
        if not dead:
            self.revoke(http, session)
        self.say(
            f"Done: {session.refreshes} refresh{'es' if session.refreshes != 1 else ''}, "
            f"alive {schedule.format_duration(time.monotonic() - started)}."
        )
        if dead:
            raise CommandError(
                f"The IdP no longer accepts this sign-in ({failure}): the refresh token "
                "expired or was revoked. Sign in again: run the client again."
            )
        if failure is not None:
            raise CommandError(str(failure))

    def show_identity(self, http: requests.Session, session: _Session) -> None:
        tokens = session.tokens
        verified = self.validate_id_token(session, tokens, nonce_required=True)
        session.sub = verified.claims["sub"]
        checks = ["iss", "aud", *(["azp"] if "azp" in verified.claims else []), "exp", "iat"]
        checks += ["nonce", *(["at_hash"] if "at_hash" in verified.claims else [])]
        self.say(
            f"ID token valid: {verified.alg} signature (kid {verified.kid}); "
            f"{', '.join(checks)} checked (OIDC Core 3.1.3.7).",
            self.style.SUCCESS,
        )
        self.show_claims(verified.claims)
        claims = oidc.fetch_userinfo(
            http, session.provider, access_token=tokens.access_token, sub=session.sub
        )
        self.say(f"Userinfo ({session.provider.userinfo_endpoint}), sub matches the ID token:")
        self.show_claims(claims)

    def validate_id_token(
        self, session: _Session, tokens: oidc.Tokens, *, nonce_required: bool
    ) -> oidc.VerifiedToken:
        verified = session.keys.verify(tokens.id_token or "")
        oidc.check_id_token_claims(
            verified.claims,
            issuer=session.provider.issuer,
            client_id=session.rp.client_id,
            nonce=session.nonce,
            nonce_required=nonce_required,
            sub=session.sub or None,
            now=time.time(),
        )
        oidc.check_at_hash(verified.claims, access_token=tokens.access_token, alg=verified.alg)
        return verified

    def show_claims(self, claims: dict[str, Any]) -> None:
        shown = {name: value for name, value in claims.items() if value not in (None, "", [])}
        width = max(map(len, shown), default=0) + 2
        for name, value in shown.items():
            if name in CHECKED_CLAIMS:
                text = "(checked)"
            elif name in TIME_CLAIMS and isinstance(value, int | float):
                text = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            else:
                text = oidc.to_printable(str(value))
            self.say(f"  {name.ljust(width)}{text}")
        if len(shown) < len(claims):
            self.say(f"  ({len(claims) - len(shown)} empty claims not shown)")

    def refresh_until_stopped(
        self, http: requests.Session, session: _Session, *, interval: float, limit: int | None
    ) -> None:
        if session.tokens.refresh_token is None:
            self.say(
                "The IdP issued no refresh token (offline_access not granted?): nothing to "
                "refresh.",
                self.style.WARNING,
            )
            return
        if limit == 0:
            return
        revokes = " and revokes the refresh token" if session.provider.revocation_endpoint else ""
        if limit is None:
            plan = f"until Ctrl+C (which stops the client{revokes})"
        else:
            plan = f"{limit} time{'s' if limit != 1 else ''} (Ctrl+C stops earlier{revokes})"
        self.say()
        self.say(f"Refreshing every {interval:g} s, {plan}.")
        started = time.monotonic()
        while limit is None or session.refreshes < limit:
            due = schedule.next_refresh_at(started=started, interval=interval, now=time.monotonic())
            self.sleep(max(0.0, due - time.monotonic()))
            self.refresh_once(http, session)

    def refresh_once(self, http: requests.Session, session: _Session) -> None:
        old = session.tokens.refresh_token or ""
        tokens = self.retrying(
            "refresh",
            lambda: oidc.refresh(
                http, session.provider, session.rp, refresh_token=old, now=time.time()
            ),
        )
        session.tokens = tokens  # keep the rotated token before anything else can fail
        if tokens.id_token:
            self.validate_id_token(session, tokens, nonce_required=False)  # OIDC Core 12.2
        claims = self.retrying(
            "userinfo",
            lambda: oidc.fetch_userinfo(
                http, session.provider, access_token=tokens.access_token, sub=session.sub
            ),
        )
        session.refreshes += 1
        if tokens.refresh_token != old:
            rotated = f"rotated {oidc.token_tag(old)} -> {oidc.token_tag(tokens.refresh_token)}"
        else:
            rotated = f"NOT rotated (still {oidc.token_tag(old)})"
        now = time.time()
        who = oidc.to_printable(str(claims.get("preferred_username") or claims.get("name") or ""))
        self.say(
            f"{_time_of_day()} refresh {session.refreshes}: access token "
            f"{oidc.token_tag(tokens.access_token)} {_when(tokens.expires_at, now)}; "
            f"refresh token {rotated}; userinfo OK ({who or 'sub ' + session.sub})"
        )

    def retrying(self, what: str, action: Callable[[], T]) -> T:
        """`action()`, retried with backoff while the IdP is unreachable or failing (5xx)."""
        delays = self.retry_delays()
        attempt = 0
        while True:
            try:
                return action()
            except oidc.TransientError as exc:
                delay = next(delays, None)
                if delay is None:
                    raise oidc.OIDCError(
                        f"{what} still failing after {attempt} retries: {exc}"
                    ) from exc
                attempt += 1
                self.stderr.write(
                    f"{_time_of_day()} {what} failed ({exc}); retry {attempt} in {delay:g} s"
                )
                self.sleep(delay)

    def revoke(self, http: requests.Session, session: _Session) -> None:
        token = session.tokens.refresh_token
        if not token:
            return
        endpoint = session.provider.revocation_endpoint
        if not endpoint:
            self.say(
                "Note: the IdP offers no revocation endpoint (none in its discovery document), "
                "so the refresh token stays valid at the IdP until it expires.",
                self.style.WARNING,
            )
            return
        try:
            oidc.revoke(http, session.provider, session.rp, token=token)
        except oidc.OIDCError as exc:
            self.stderr.write(f"Could not revoke the refresh token: {exc}")
        except KeyboardInterrupt:
            self.stderr.write("Interrupted again: the refresh token was not revoked.")
        else:
            self.say(f"Refresh token {oidc.token_tag(token)} revoked at {endpoint} (RFC 7009).")


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."
