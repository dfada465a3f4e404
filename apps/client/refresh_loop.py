"""Staying signed in: refresh on a schedule, retrying with backoff while the IdP is away."""

from collections.abc import Callable, Iterator
from typing import TypeVar

import requests

from apps.client import oidc, schedule
from apps.client.errors import OutageOutlasted
from apps.client.resource import report_profile
from apps.client.session import ClientSession, Clock
from apps.client.terminal import OutputGone, Terminal, expiry, time_of_day

T = TypeVar("T")

RetryDelays = Callable[[], Iterator[float]]  # a fresh series of pauses for each action


def retrying(
    what: str,
    action: Callable[[], T],
    *,
    delays: Iterator[float],
    sleep: Callable[[float], None],
    terminal: Terminal,
) -> T:
    """`action()`, retried after each of `delays` while the IdP is unreachable or failing (5xx)."""
    attempt = 0
    waited = 0.0
    while True:
        try:
            return action()
        except oidc.TransientError as exc:
            delay = next(delays, None)
            if delay is None:
                raise OutageOutlasted(
                    f"{what} still failing after {attempt} retries: {exc} "
                    f"(for {schedule.format_duration(waited)})"
                ) from exc
            waited += delay
            attempt += 1
            terminal.warn(f"{time_of_day()} {what} failed ({exc}); retry {attempt} in {delay:g} s")
            sleep(delay)


class RefreshLoop:
    """Refreshes `session` every `interval` seconds, `limit` times or until stopped."""

    def __init__(
        self,
        http: requests.Session,
        session: ClientSession,
        terminal: Terminal,
        *,
        clock: Clock,
        retry_delays: RetryDelays = schedule.retry_delays,
        on_tokens: Callable[[ClientSession], None] | None = None,
        api_url: str | None = None,
    ) -> None:
        self.http = http
        self.session = session
        self.terminal = terminal
        self.clock = clock
        self.retry_delays = retry_delays
        self.on_tokens = on_tokens  # --remember: keep each rotated refresh token at once
        self.api_url = api_url  # the protected API called after each refresh; None: none

    def run(self, *, interval: float, limit: int | None) -> None:
        session = self.session
        if session.tokens.refresh_token is None:
            self.terminal.say_warning(
                "The IdP issued no refresh token (offline_access not granted?): nothing to refresh."
            )
            return
        if limit == 0:
            return
        self.terminal.say()
        self.terminal.say(f"Refreshing every {interval:g} s, {self.plan(limit)}.")
        started = self.clock.monotonic()
        while limit is None or session.refreshes < limit:
            if self.terminal.stdout_gone:
                raise OutputGone()
            now = self.clock.monotonic()
            due = schedule.next_refresh_at(started=started, interval=interval, now=now)
            self.clock.sleep(max(0.0, due - self.clock.monotonic()))
            self.refresh_once()

    def plan(self, limit: int | None) -> str:
        revokes = (
            " and revokes the refresh token" if self.session.provider.revocation_endpoint else ""
        )
        if self.on_tokens is not None:  # --remember: the grant is kept, not revoked
            revokes = " and keeps the sign-in for the next run"
        if limit is None:
            return f"until Ctrl+C (which stops the client{revokes})"
        return f"{limit} time{'s' if limit != 1 else ''} (Ctrl+C stops earlier{revokes})"

    def retrying(self, what: str, action: Callable[[], T]) -> T:
        return retrying(
            what,
            action,
            delays=self.retry_delays(),
            sleep=self.clock.sleep,
            terminal=self.terminal,
        )

    def refresh_once(self) -> None:
        http, session, clock = self.http, self.session, self.clock
        old = session.tokens.refresh_token or ""
        tokens = self.retrying(
            "refresh",
            lambda: oidc.refresh(
                http,
                session.provider,
                session.rp,
                refresh_token=old,
                now=clock.now(),
                dpop=session.dpop,
            ),
        )
        session.tokens = tokens  # keep the rotated token before anything else can fail
        if self.on_tokens is not None:
            self.on_tokens(session)
        if tokens.id_token:
            session.validate_id_token(tokens, now=clock.now())  # OIDC Core 12.2
        claims = self.retrying(
            "userinfo",
            lambda: oidc.fetch_userinfo(
                http,
                session.provider,
                access_token=tokens.access_token,
                sub=session.sub,
                dpop=session.dpop,
            ),
        )
        session.refreshes += 1
        if tokens.refresh_token != old:
            rotated = f"rotated {oidc.token_tag(old)} -> {oidc.token_tag(tokens.refresh_token)}"
        else:
            rotated = f"NOT rotated (still {oidc.token_tag(old)})"
        who = oidc.to_printable(str(claims.get("preferred_username") or claims.get("name") or ""))
        self.terminal.say(
            f"{time_of_day()} refresh {session.refreshes}: access token "
            f"{oidc.token_tag(tokens.access_token)} {expiry(tokens.expires_at, clock.now())}; "
            f"refresh token {rotated}; userinfo OK ({who or 'sub ' + session.sub})"
        )
        self.call_api()

    def call_api(self) -> None:
        """One line from the protected API for the current access token (if one is set)."""
        if not self.api_url:
            return
        report_profile(
            self.http,
            self.api_url,
            access_token=self.session.tokens.access_token,
            dpop=self.session.dpop,
            say=self.terminal.say,
            warn=self.terminal.say_warning,  # stdout: an API refusal is news, not a failure
        )
