"""Sign-in with a device code (RFC 8628): for a terminal with no browser beside it.

The client asks for a user code, shows where to enter it (on any device), and polls the
token endpoint at the interval the IdP gives until the person has allowed or denied access
or the code expired. The waiting is a loop over an injected clock: tests run it instantly.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from apps.client import oidc
from apps.client.dpop import DPoPKey
from apps.client.errors import ClientAbort
from apps.client.session import Clock
from apps.client.signin import SignedIn
from apps.client.terminal import Terminal
from apps.client.transport import answer, send

DEFAULT_INTERVAL_SECONDS = 5  # RFC 8628 §3.2: when the IdP names none
SLOW_DOWN_SECONDS = 5  # RFC 8628 §3.5: each slow_down adds this to the interval
PROGRESS_EVERY_SECONDS = 30  # a line at the first poll, then at most this often


@dataclass(frozen=True)
class DeviceAuthorization:
    """The device authorization response (RFC 8628 §3.2)."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if isinstance(value, str) and value:
        return value
    if required:
        raise oidc.OIDCError(f"the device authorization endpoint answered without {name}")
    return None


def _seconds(value: Any, default: float | None) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if default is None:
        raise oidc.OIDCError(f"the device authorization endpoint answered expires_in={value!r}")
    return default


def request_device_code(
    http: requests.Session, provider: oidc.Provider, rp: oidc.RelyingParty
) -> DeviceAuthorization:
    """POST client_id and scope to the device authorization endpoint (RFC 8628 §3.1)."""
    if not provider.device_authorization_endpoint:
        raise ClientAbort(
            f"The IdP at {provider.issuer} offers no device sign-in (its discovery document "
            "has no device_authorization_endpoint). Sign in with --loopback or the default "
            "paste flow instead."
        )
    form = {"client_id": rp.client_id, "scope": rp.scope}
    if rp.resource:
        form["resource"] = rp.resource  # RFC 8707 with RFC 8628: the API the tokens are for
    body = answer(
        send(http, "POST", provider.device_authorization_endpoint, data=form),
        "the device authorization endpoint",
    )
    return DeviceAuthorization(
        device_code=_text(body, "device_code") or "",
        user_code=oidc.to_printable(_text(body, "user_code") or "", limit=40),
        verification_uri=oidc.to_printable(_text(body, "verification_uri") or "", limit=500),
        verification_uri_complete=oidc.to_printable(
            _text(body, "verification_uri_complete", required=False) or "", limit=800
        )
        or None,
        expires_in=_seconds(body.get("expires_in"), None),
        interval=_seconds(body.get("interval"), DEFAULT_INTERVAL_SECONDS),
    )


def poll_for_tokens(
    http: requests.Session,
    provider: oidc.Provider,
    rp: oidc.RelyingParty,
    grant: DeviceAuthorization,
    *,
    clock: Clock,
    progress: Callable[[str], None],
    warn: Callable[[str], None],
    dpop: DPoPKey | None = None,
) -> oidc.Tokens:
    """Poll every `interval` seconds (RFC 8628 §3.5) until tokens, a denial or expiry."""
    interval = grant.interval
    started = clock.monotonic()
    deadline = started + grant.expires_in
    polls = 0
    last_said = started
    while True:
        clock.sleep(interval)
        if clock.monotonic() >= deadline:
            raise ClientAbort(
                f"The code {grant.user_code} expired before access was allowed "
                f"({math.ceil(grant.expires_in / 60)} min). Run the client again for a new code."
            )
        polls += 1
        try:
            return oidc.exchange_device_code(
                http, provider, rp, device_code=grant.device_code, now=clock.now(), dpop=dpop
            )
        except oidc.TransientError as exc:  # the IdP is away: the code may still be good
            warn(f"Polling failed ({exc}); trying again in {interval:g} s.")
            continue
        except oidc.OAuthError as exc:
            if exc.error == "authorization_pending":
                pass
            elif exc.error == "slow_down":
                interval += SLOW_DOWN_SECONDS
                warn(f"The IdP asks to poll more slowly: every {interval:g} s from now on.")
            elif exc.error == "access_denied":
                raise ClientAbort(
                    "Access was denied on the verification page: no tokens were issued."
                ) from exc
            elif exc.error == "expired_token":
                raise ClientAbort(
                    f"The code {grant.user_code} expired before access was allowed. "
                    "Run the client again for a new code."
                ) from exc
            else:
                raise
        if polls > 1 and clock.monotonic() - last_said < PROGRESS_EVERY_SECONDS:
            continue
        last_said = clock.monotonic()
        left = max(0, round(deadline - clock.monotonic()))
        progress(
            f"Waiting for you to allow access … (poll {polls}, every {interval:g} s, "
            f"code valid {left // 60}m{left % 60:02d}s more)"
        )


@dataclass
class DeviceSignIn:
    """RFC 8628: show where to enter the user code, then poll until the person has answered."""

    terminal: Terminal
    clock: Clock = field(default_factory=Clock)
    now: Callable[[], float] = time.time
    uses_redirect = False  # sign_in shows no redirect URI

    def __call__(
        self,
        http: requests.Session,
        provider: oidc.Provider,
        rp: oidc.RelyingParty,
        dpop: DPoPKey | None = None,
    ) -> SignedIn:
        grant = request_device_code(http, provider, rp)
        say = self.terminal.say
        say()
        say("On any device with a browser, open")
        say()
        say(f"  {grant.verification_uri}")
        say()
        say(f"and enter the code  {grant.user_code}")
        if grant.verification_uri_complete:
            say()
            say("Or open this address, which carries the code (check the code shown matches):")
            say()
            say(f"  {grant.verification_uri_complete}")
        say()
        tokens = poll_for_tokens(
            http,
            provider,
            rp,
            grant,
            clock=self.clock,
            progress=self.terminal.say,
            warn=self.terminal.warn,
            dpop=dpop,
        )
        if tokens.id_token is None and "openid" in rp.scope.split():
            raise oidc.OIDCError("the token endpoint issued no ID token for the device code")
        return SignedIn(tokens=tokens, nonce="")  # RFC 8628 requests carry no nonce
