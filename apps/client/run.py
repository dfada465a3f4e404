"""One run of the client: sign in, show who signed in, refresh until stopped, revoke, sum up."""

import dataclasses
import webbrowser
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from apps.client import oidc, resource_discovery, schedule
from apps.client.device import DeviceSignIn
from apps.client.dpop import DPoPKey
from apps.client.errors import ClientAbort
from apps.client.loopback import DEFAULT_TIMEOUT_SECONDS, LoopbackReceiver, LoopbackSignIn
from apps.client.refresh_loop import RefreshLoop, RetryDelays, retrying
from apps.client.session import ClientSession, Clock
from apps.client.signals import signals_stop_the_client, stop_reason
from apps.client.signin import (
    EXIT_INTERRUPTED,
    PasteSignIn,
    ReadLine,
    SignInMethod,
    discover,
    sign_in,
)
from apps.client.store import GrantStore, StoredGrant
from apps.client.terminal import Terminal, expiry


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
    remember: bool = False  # keep the grant in `store` on exit instead of revoking it
    action: str = "run"  # "run", or "status" / "logout" of the kept grant
    resource: str | None = None  # --resource: the API; issuer and client are discovered
    dpop: bool = True  # bind the tokens to a new key when the IdP offers DPoP (RFC 9449)
    api_url: str | None = None  # the protected API to call after sign-in and each refresh


def run(
    settings: RunSettings,
    terminal: Terminal,
    *,
    read_line: ReadLine,
    clock: Clock,
    retry_delays: RetryDelays,
    open_url: Callable[[str], bool] = webbrowser.open,
    store: GrantStore | None = None,
) -> None:
    """The whole run; ends with ClientAbort when the shell should see a failure."""
    started = clock.monotonic()
    if settings.action == "status":
        if store is None:
            raise ClientAbort("--status needs a store")
        if settings.resource:
            raise ClientAbort(
                "--status reads no API: pass --issuer and --client-id, as --resource printed them"
            )
        show_status(settings, store, terminal, now=clock.now())
        return
    with ExitStack() as stack:
        http = stack.enter_context(requests.Session())
        stack.enter_context(signals_stop_the_client())
        # Ours, not the environment's: REQUESTS_CA_BUNDLE would override `verify`.
        http.trust_env = False
        http.verify = settings.ca_file
        if settings.resource:
            settings = with_discovered_client(http, settings, terminal, store, stack)
        if settings.action == "logout":
            if store is None:
                raise ClientAbort("--logout needs a store")
            logout(http, settings, store, terminal)
            return
        keep = store if settings.remember else None
        session = None
        if keep is not None:
            session = resume(http, settings, keep, terminal, clock=clock, retry_delays=retry_delays)
        if session is None:
            session = sign_in_by_method(
                http, settings, terminal, read_line=read_line, clock=clock, open_url=open_url
            )
            if keep is not None:
                keep.save(stored_grant(session, now=clock.now()))
        on_tokens = (lambda s: keep.save(stored_grant(s, now=clock.now()))) if keep else None
        loop = RefreshLoop(
            http,
            session,
            terminal,
            clock=clock,
            retry_delays=retry_delays,
            on_tokens=on_tokens,
            api_url=settings.api_url,
        )
        stay_signed_in(http, session, loop, terminal, settings=settings, started=started, keep=keep)


def with_discovered_client(
    http: requests.Session,
    settings: RunSettings,
    terminal: Terminal,
    store: GrantStore | None,
    stack: ExitStack,
) -> RunSettings:
    """--resource: the issuer and a client registered there, found from the API's address.
    The registration is kept with --remember's store; otherwise deleted when the run ends,
    as after --logout."""
    logout = settings.action == "logout"
    keep = store if settings.remember or logout else None
    found = resource_discovery.discover_and_register(
        http,
        settings.resource or "",
        settings.rp,
        terminal,
        store=keep,  # FileStore and KeyringStore keep registrations too
        kept_only=logout,
    )
    if logout:
        stack.callback(resource_discovery.forget, http, found.registration, terminal, keep)
    elif not found.kept:
        stack.callback(resource_discovery.forget, http, found.registration, terminal)
    # The API found is the one to call after sign-in and each refresh.
    return dataclasses.replace(
        settings, issuer=found.issuer, rp=found.rp, api_url=settings.resource
    )


def sign_in_by_method(
    http: requests.Session,
    settings: RunSettings,
    terminal: Terminal,
    *,
    read_line: ReadLine,
    clock: Clock,
    open_url: Callable[[str], bool],
) -> ClientSession:
    """The sign-in the flags chose: paste (the default), loopback or device."""
    rp = settings.rp
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
        with receiver:  # listening only until signed in
            return sign_in(
                http,
                settings.issuer,
                rp,
                method,
                terminal,
                now=clock.now,
                dpop_wanted=settings.dpop,
            )
    if settings.method == "device":
        method = DeviceSignIn(terminal, clock=clock, now=clock.now)
        return sign_in(
            http, settings.issuer, rp, method, terminal, now=clock.now, dpop_wanted=settings.dpop
        )
    method = PasteSignIn(
        terminal,
        read_line,
        code=settings.code,
        open_browser=settings.open_browser,
        open_url=open_url,
        now=clock.now,
    )
    return sign_in(
        http, settings.issuer, rp, method, terminal, now=clock.now, dpop_wanted=settings.dpop
    )


def stay_signed_in(
    http: requests.Session,
    session: ClientSession,
    loop: RefreshLoop,
    terminal: Terminal,
    *,
    settings: RunSettings,
    started: float,
    keep: GrantStore | None = None,
) -> None:
    """Once tokens exist, Ctrl+C exits 0, after revoking the refresh token (or keeping it)."""
    failure: oidc.OIDCError | None = None
    stopped_by = ""
    try:
        show_identity(http, session, terminal, now=loop.clock.now())
        loop.call_api()
        loop.run(interval=settings.interval, limit=settings.max_refreshes)
    except KeyboardInterrupt as exc:
        stopped_by = stop_reason(exc)
    except oidc.OIDCError as exc:
        failure = exc
    if stopped_by:
        terminal.say(f"\nStopping ({stopped_by}).")
    dead = isinstance(failure, oidc.InvalidGrant)  # nothing left to revoke
    untrusted = isinstance(failure, oidc.TLSFailure)  # the IdP cannot be trusted now
    revoked = False
    if dead and keep is not None:
        keep.delete(session.provider.issuer, session.rp.client_id)
    elif keep is not None:
        keep.save(stored_grant(session, now=loop.clock.now()))
        terminal.say(
            f"Sign-in kept in {keep.where} (not revoked): the next run with --remember "
            "resumes it; --logout revokes it."
        )
    elif untrusted:
        pass  # revoking would meet the same TLS failure: say it once, below
    elif not dead:
        revoked = revoke(http, session, terminal)
    alive = schedule.format_duration(loop.clock.monotonic() - started)
    terminal.say(
        f"Done: {session.refreshes} refresh{'es' if session.refreshes != 1 else ''}, alive {alive}."
    )
    if dead:
        raise ClientAbort(
            f"The IdP no longer accepts this sign-in ({failure}): the refresh token "
            "expired or was revoked. Sign in again: run the client again."
        )
    if isinstance(failure, oidc.OutageOutlasted):
        raise ClientAbort(gave_up_message(failure, session, keep=keep, revoked=revoked))
    if untrusted and keep is None:
        raise ClientAbort(
            f"{failure} The refresh token was not revoked: it stays valid at the IdP until "
            "it expires."
        )
    if failure is not None:
        raise ClientAbort(str(failure))


def gave_up_message(
    failure: oidc.OIDCError, session: ClientSession, *, keep: GrantStore | None, revoked: bool
) -> str:
    """After an outage: whether the sign-in is still good, and what to do next."""
    said = f"Gave up waiting for the IdP: {failure}."
    if keep is not None:
        return (
            f"{said} The sign-in is most likely still valid and is kept in {keep.where}: "
            "run the client again with --remember once the IdP is back, no sign-in needed."
        )
    if revoked:
        return f"{said} The refresh token was revoked: sign in again once the IdP is back."
    if session.provider.revocation_endpoint:
        return (
            f"{said} The refresh token could not be revoked, so it stays valid at the IdP "
            "until it expires (nothing of it was kept here). Sign in again once the IdP is "
            "back; --remember next time would let a run resume instead."
        )
    return f"{said} Sign in again once the IdP is back."


def show_identity(
    http: requests.Session, session: ClientSession, terminal: Terminal, *, now: float
) -> None:
    """The validated ID token's claims, then userinfo's (whose sub must match)."""
    if session.tokens.id_token is None and session.sub:  # a resumed grant, refreshed without
        terminal.say("(The refresh issued no new ID token: the stored sub is checked instead.)")
    else:
        show_id_token(session, terminal, now=now)
    claims = oidc.fetch_userinfo(
        http,
        session.provider,
        access_token=session.tokens.access_token,
        sub=session.sub,
        dpop=session.dpop,
    )
    session.user = oidc.to_printable(
        str(claims.get("preferred_username") or claims.get("name") or "")
    )
    terminal.say(f"Userinfo ({session.provider.userinfo_endpoint}), sub matches the ID token:")
    terminal.show_claims(claims)


def show_id_token(session: ClientSession, terminal: Terminal, *, now: float) -> None:
    verified = session.validate_id_token(session.tokens, now=now)
    session.sub = verified.claims["sub"]
    checks = ["iss", "aud", *(["azp"] if "azp" in verified.claims else []), "exp", "iat"]
    # Only what was checked: the device grant and a resumed grant have no nonce to expect.
    if (session.nonce and not session.resumed) or "nonce" in verified.claims:
        checks.append("nonce")
    checks += ["at_hash"] if "at_hash" in verified.claims else []
    terminal.say_success(
        f"ID token valid: {verified.alg} signature (kid {verified.kid}); "
        f"{', '.join(checks)} checked (OIDC Core 3.1.3.7)."
    )
    terminal.show_claims(verified.claims)


def revoke(http: requests.Session, session: ClientSession, terminal: Terminal) -> bool:
    """The refresh token revoked at the IdP (RFC 7009), or a note why it stays valid."""
    token = session.tokens.refresh_token
    if not token:
        return False
    endpoint = session.provider.revocation_endpoint
    if not endpoint:
        terminal.say_warning(
            "Note: the IdP offers no revocation endpoint (none in its discovery document), "
            "so the refresh token stays valid at the IdP until it expires."
        )
        return False
    try:
        oidc.revoke(http, session.provider, session.rp, token=token, dpop=session.dpop)
    except oidc.OIDCError as exc:
        terminal.warn(f"Could not revoke the refresh token: {exc}")
    except KeyboardInterrupt:
        # The request may have reached the IdP before its answer did: say what is known.
        terminal.warn(
            "Interrupted again while revoking: the IdP's answer never came, so the refresh "
            "token may still be valid at the IdP until it expires."
        )
    else:
        terminal.say(f"Refresh token {oidc.token_tag(token)} revoked at {endpoint} (RFC 7009).")
        return True
    return False


def stored_grant(session: ClientSession, *, now: float) -> StoredGrant:
    return StoredGrant(
        issuer=session.provider.issuer,
        client_id=session.rp.client_id,
        refresh_token=session.tokens.refresh_token or "",
        sub=session.sub,
        user=session.user,
        scope=session.tokens.scope or session.rp.scope,
        expires_at=session.tokens.expires_at,
        saved_at=now,
        nonce=session.nonce,
        dpop_key=session.dpop.private_jwk() if session.dpop is not None else None,
    )


def resume(
    http: requests.Session,
    settings: RunSettings,
    store: GrantStore,
    terminal: Terminal,
    *,
    clock: Clock,
    retry_delays: RetryDelays,
) -> ClientSession | None:
    """The kept grant, refreshed once: a session without signing in; None if there is none
    (or the IdP no longer accepts it, which deletes it)."""
    grant = store.load(settings.issuer, settings.rp.client_id)
    if grant is None or not grant.refresh_token:
        terminal.say(f"No sign-in kept in {store.where} for this issuer and client: signing in.")
        return None
    try:
        dpop = kept_dpop_key(grant)
    except ValueError as exc:
        store.delete(grant.issuer, grant.client_id)
        terminal.warn(
            f"The DPoP key kept with the sign-in is unusable ({exc}), and the refresh token "
            "is bound to it: deleted the kept sign-in. Signing in again."
        )
        return None
    terminal.say(f"Resuming the sign-in kept in {store.where} ({describe_user(grant)}).")
    try:
        provider = discover(http, settings.issuer, terminal)
    except KeyboardInterrupt:
        raise ClientAbort("\nStopped before resuming.", returncode=EXIT_INTERRUPTED) from None
    rp = settings.rp
    try:
        tokens = retrying(
            "refresh",
            lambda: oidc.refresh(
                http, provider, rp, refresh_token=grant.refresh_token, now=clock.now(), dpop=dpop
            ),
            delays=retry_delays(),
            sleep=clock.sleep,
            terminal=terminal,
        )
    except oidc.InvalidGrant as exc:
        store.delete(grant.issuer, grant.client_id)
        terminal.warn(
            f"The kept sign-in is no longer accepted ({exc}): deleted it. Signing in again."
        )
        return None
    except KeyboardInterrupt:
        raise ClientAbort(
            "\nStopped while resuming: the kept sign-in stays in the store.",
            returncode=EXIT_INTERRUPTED,
        ) from None
    except oidc.OIDCError as exc:
        raise ClientAbort(
            f"Could not resume the kept sign-in: {exc}. It stays kept: run again later, "
            "or --logout."
        ) from exc
    session = ClientSession(
        provider=provider,
        rp=rp,
        keys=oidc.SigningKeys(http, provider),
        nonce=grant.nonce,
        tokens=tokens,
        sub=grant.sub,
        user=grant.user,
        resumed=True,
        dpop=dpop if tokens.dpop_bound else None,
    )
    store.save(stored_grant(session, now=clock.now()))  # the rotated token, at once
    bound = f", DPoP key {session.dpop.thumbprint}" if session.dpop is not None else ""
    terminal.say_success(
        f"Resumed without signing in: access token {oidc.token_tag(tokens.access_token)} "
        f"({expiry(tokens.expires_at, clock.now())}{bound})."
    )
    return session


def kept_dpop_key(grant: StoredGrant) -> DPoPKey | None:
    """The key the kept grant is bound to; ValueError if what is kept is no usable key."""
    return DPoPKey.from_private_jwk(grant.dpop_key) if grant.dpop_key is not None else None


def describe_dpop_key(grant: StoredGrant) -> str:
    """The kept key by its public thumbprint: enough to match it with the IdP's cnf.jkt."""
    try:
        key = kept_dpop_key(grant)
    except ValueError:
        return "a DPoP key that is no longer usable"
    return f"DPoP key, thumbprint {key.thumbprint}" if key is not None else "no DPoP key"


def describe_user(grant: StoredGrant) -> str:
    return f"user {grant.user} (sub {grant.sub})" if grant.user else f"sub {grant.sub}"


def show_status(
    settings: RunSettings, store: GrantStore, terminal: Terminal, *, now: float
) -> None:
    """What is kept for this issuer and client; never a token."""
    grant = store.load(settings.issuer, settings.rp.client_id)
    if grant is None:
        terminal.say(
            f"Nothing kept in {store.where} for issuer {settings.issuer}, "
            f"client {settings.rp.client_id}. `--remember` keeps a sign-in."
        )
        return
    saved = datetime.fromtimestamp(grant.saved_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    access = "no expiry given"
    if grant.expires_at is not None:
        access = (
            f"expired {round(now - grant.expires_at)} s ago (a refresh renews it)"
            if grant.expires_at <= now
            else expiry(grant.expires_at, now)
        )
    terminal.say(f"Kept in       {store.where}")
    terminal.say(f"Issuer        {grant.issuer}")
    terminal.say(f"Client id     {grant.client_id}")
    terminal.say(f"User          {describe_user(grant)}")
    terminal.say(f"Scopes        {grant.scope or '(not known)'}")
    terminal.say(f"Saved         {saved}")
    terminal.say(f"Access token  {access}")
    if grant.dpop_key is not None:
        terminal.say(f"Bound to      {describe_dpop_key(grant)} (private key kept, not shown)")
    terminal.say("Refresh token kept (not shown); --logout revokes it and deletes it here.")


def logout(
    http: requests.Session, settings: RunSettings, store: GrantStore, terminal: Terminal
) -> None:
    """The kept grant revoked at the IdP (RFC 7009), then deleted from the store."""
    grant = store.load(settings.issuer, settings.rp.client_id)
    if grant is None:
        terminal.say(f"Nothing kept in {store.where} for this issuer and client: nothing to do.")
        return
    provider = discover(http, settings.issuer, terminal)
    if not provider.revocation_endpoint:
        store.delete(grant.issuer, grant.client_id)
        terminal.say_warning(
            f"Deleted from {store.where}. Note: the IdP offers no revocation endpoint, so "
            "the refresh token stays valid at the IdP until it expires."
        )
        return
    try:
        dpop = kept_dpop_key(grant)
    except ValueError:
        dpop = None  # the IdP may still revoke it: RFC 7009 asks only for the token
    try:
        oidc.revoke(http, provider, settings.rp, token=grant.refresh_token, dpop=dpop)
    except oidc.OIDCError as exc:
        raise ClientAbort(
            f"Could not revoke the kept sign-in ({exc}): it stays kept in {store.where}. "
            "Try --logout again when the IdP is back."
        ) from exc
    store.delete(grant.issuer, grant.client_id)
    terminal.say(
        f"Signed out: refresh token revoked at {provider.revocation_endpoint} (RFC 7009) "
        f"and deleted from {store.where}."
    )
