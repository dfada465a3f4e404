"""One run of the client: sign in, show who signed in, refresh until stopped, revoke, sum up."""

import dataclasses
import webbrowser
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import requests

from apps.client import oidc, schedule
from apps.client.errors import ClientAbort
from apps.client.loopback import DEFAULT_TIMEOUT_SECONDS, LoopbackReceiver, LoopbackSignIn
from apps.client.refresh_loop import RefreshLoop, RetryDelays
from apps.client.session import ClientSession, Clock
from apps.client.signals import signals_stop_the_client, stop_reason
from apps.client.signin import PasteSignIn, ReadLine, SignInMethod, sign_in
from apps.client.terminal import Terminal


@dataclass(frozen=True)
class RunSettings:
    """The run's settings, from the command line."""

    issuer: str
    rp: oidc.RelyingParty
    ca_file: str
    interval: float  # seconds between refreshes
    max_refreshes: int | None  # None: until stopped
    code: str | None = None  # the pasted answer given up front
    open_browser: bool = False
    method: str = "paste"  # "paste", "loopback" or "device"
    timeout: float = DEFAULT_TIMEOUT_SECONDS  # how long loopback waits for the browser


def run(
    settings: RunSettings,
    terminal: Terminal,
    *,
    read_line: ReadLine,
    clock: Clock,
    retry_delays: RetryDelays,
    open_url: Callable[[str], bool] = webbrowser.open,
) -> None:
    """The whole run; ends with ClientAbort when the shell should see a failure."""
    started = clock.monotonic()
    rp = settings.rp
    with ExitStack() as stack:
        http = stack.enter_context(requests.Session())
        stack.enter_context(signals_stop_the_client())
        # Ours, not the environment's: REQUESTS_CA_BUNDLE would override `verify`.
        http.trust_env = False
        http.verify = settings.ca_file
        method: SignInMethod
        if settings.method == "loopback":
            receiver = LoopbackReceiver()  # bound now: the redirect URI needs its port
            rp = dataclasses.replace(rp, redirect_uri=receiver.redirect_uri)
            method = LoopbackSignIn(
                terminal,
                receiver,
                open_browser=settings.open_browser,
                timeout=settings.timeout,
                open_url=open_url,
                now=clock.now,
                monotonic=clock.monotonic,
            )
        else:
            method = PasteSignIn(
                terminal,
                read_line,
                code=settings.code,
                open_browser=settings.open_browser,
                open_url=open_url,
                now=clock.now,
            )
        with ExitStack() as listening:  # loopback: stop listening once signed in
            if settings.method == "loopback":
                listening.enter_context(receiver)
            session = sign_in(http, settings.issuer, rp, method, terminal, now=clock.now)
        loop = RefreshLoop(http, session, terminal, clock=clock, retry_delays=retry_delays)
        stay_signed_in(http, session, loop, terminal, settings=settings, started=started)


def stay_signed_in(
    http: requests.Session,
    session: ClientSession,
    loop: RefreshLoop,
    terminal: Terminal,
    *,
    settings: RunSettings,
    started: float,
) -> None:
    """Once tokens exist, Ctrl+C exits 0, after revoking the refresh token."""
    failure: oidc.OIDCError | None = None
    stopped_by = ""
    try:
        show_identity(http, session, terminal, now=loop.clock.now())
        loop.run(interval=settings.interval, limit=settings.max_refreshes)
    except KeyboardInterrupt as exc:
        stopped_by = stop_reason(exc)
    except oidc.OIDCError as exc:
        failure = exc
    if stopped_by:
        terminal.say(f"\nStopping ({stopped_by}).")
    dead = isinstance(failure, oidc.InvalidGrant)  # nothing left to revoke
    if not dead:
        revoke(http, session, terminal)
    alive = schedule.format_duration(loop.clock.monotonic() - started)
    terminal.say(
        f"Done: {session.refreshes} refresh{'es' if session.refreshes != 1 else ''}, alive {alive}."
    )
    if dead:
        raise ClientAbort(
            f"The IdP no longer accepts this sign-in ({failure}): the refresh token "
            "expired or was revoked. Sign in again: run the client again."
        )
    if failure is not None:
        raise ClientAbort(str(failure))


def show_identity(
    http: requests.Session, session: ClientSession, terminal: Terminal, *, now: float
) -> None:
    """The validated ID token's claims, then userinfo's (whose sub must match)."""
    verified = session.validate_id_token(session.tokens, now=now)
    session.sub = verified.claims["sub"]
    checks = ["iss", "aud", *(["azp"] if "azp" in verified.claims else []), "exp", "iat"]
    checks += ["nonce", *(["at_hash"] if "at_hash" in verified.claims else [])]
    terminal.say_success(
        f"ID token valid: {verified.alg} signature (kid {verified.kid}); "
        f"{', '.join(checks)} checked (OIDC Core 3.1.3.7)."
    )
    terminal.show_claims(verified.claims)
    claims = oidc.fetch_userinfo(
        http, session.provider, access_token=session.tokens.access_token, sub=session.sub
    )
    terminal.say(f"Userinfo ({session.provider.userinfo_endpoint}), sub matches the ID token:")
    terminal.show_claims(claims)


def revoke(http: requests.Session, session: ClientSession, terminal: Terminal) -> None:
    """The refresh token revoked at the IdP (RFC 7009), or a note why it stays valid."""
    token = session.tokens.refresh_token
    if not token:
        return
    endpoint = session.provider.revocation_endpoint
    if not endpoint:
        terminal.say_warning(
            "Note: the IdP offers no revocation endpoint (none in its discovery document), "
            "so the refresh token stays valid at the IdP until it expires."
        )
        return
    try:
        oidc.revoke(http, session.provider, session.rp, token=token)
    except oidc.OIDCError as exc:
        terminal.warn(f"Could not revoke the refresh token: {exc}")
    except KeyboardInterrupt:
        terminal.warn("Interrupted again: the refresh token was not revoked.")
    else:
        terminal.say(f"Refresh token {oidc.token_tag(token)} revoked at {endpoint} (RFC 7009).")
