"""Signing in: discovery, then a sign-in method that ends with tokens.

A sign-in method is any callable `(http, provider, rp, dpop) -> SignedIn`: the paste flow
(`PasteSignIn`), loopback, device. `sign_in` wraps whichever one runs with what they share:
discovery first, the sign-in's DPoP key, Ctrl+C as "no tokens were issued", errors as
ClientAbort, the "Tokens received" line.
"""

import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import requests

from apps.client import oidc, pkce
from apps.client.dpop import DPoPKey, offered
from apps.client.errors import ClientAbort
from apps.client.session import ClientSession
from apps.client.terminal import Terminal, expiry, sentence

PASTE_ATTEMPTS = 3
EXIT_INTERRUPTED = 130  # what a shell reports for a program ended by Ctrl+C (128 + SIGINT)

ReadLine = Callable[[], str]  # one line with its "\n"; "" at the end of input


@dataclass(frozen=True)
class SignedIn:
    """What every sign-in method ends with: the tokens, and the nonce the request sent."""

    tokens: oidc.Tokens = field(repr=False)
    nonce: str


class SignInMethod(Protocol):
    def __call__(
        self,
        http: requests.Session,
        provider: oidc.Provider,
        rp: oidc.RelyingParty,
        dpop: DPoPKey | None = None,
    ) -> SignedIn: ...


def discover(http: requests.Session, issuer: str, terminal: Terminal) -> oidc.Provider:
    """The IdP's endpoints, with a hint when it cannot be reached."""
    try:
        provider = oidc.discover(http, issuer)
    except oidc.TransientError as exc:
        raise ClientAbort(
            f"Cannot reach the IdP: {exc}. Is it running (`make demo` in another "
            "terminal)? Otherwise pass --issuer."
        ) from exc
    except oidc.TLSFailure as exc:  # its own sentence says what failed and what to do
        raise ClientAbort(str(exc)) from exc
    except oidc.OIDCError as exc:
        raise ClientAbort(f"Discovery at {issuer} failed: {exc}") from exc
    revocation = provider.revocation_endpoint or "none advertised"
    terminal.say(f"Issuer        {provider.issuer} (discovery OK; revocation: {revocation})")
    return provider


def sign_in(
    http: requests.Session,
    issuer: str,
    rp: oidc.RelyingParty,
    method: SignInMethod,
    terminal: Terminal,
    *,
    now: Callable[[], float] = time.time,
    dpop_wanted: bool = True,
) -> ClientSession:
    """Discovery and `method`, with a new DPoP key if the IdP takes DPoP and `dpop_wanted`;
    before tokens exist, Ctrl+C exits 130."""
    try:
        provider = discover(http, issuer, terminal)
        terminal.say(f"Client id     {rp.client_id}")
        if getattr(method, "uses_redirect", True):  # the device grant has none
            terminal.say(f"Redirect URI  {rp.redirect_uri}")
        dpop = new_dpop_key(provider, terminal, wanted=dpop_wanted)
        signed_in = method(http, provider, rp, dpop)
    except KeyboardInterrupt:
        raise ClientAbort(
            "\nStopped before sign-in finished: no tokens were issued to this client.",
            returncode=EXIT_INTERRUPTED,
        ) from None
    except oidc.OIDCError as exc:
        raise ClientAbort(f"Sign-in failed: {exc}") from exc
    tokens = signed_in.tokens
    if dpop is not None and not tokens.dpop_bound:
        terminal.say_warning(
            "The IdP answered the DPoP proof with a Bearer token (RFC 9449 §5): going on "
            "with Bearer tokens, not bound to the key."
        )
        dpop = None
    terminal.say_success(
        f"Tokens received: access token {oidc.token_tag(tokens.access_token)} "
        f"({expiry(tokens.expires_at, now())}), "
        f"refresh token {oidc.token_tag(tokens.refresh_token)}, ID token."
    )
    return ClientSession(
        provider=provider,
        rp=rp,
        keys=oidc.SigningKeys(http, provider),
        nonce=signed_in.nonce,
        tokens=tokens,
        dpop=dpop,
    )


def new_dpop_key(provider: oidc.Provider, terminal: Terminal, *, wanted: bool) -> DPoPKey | None:
    """A fresh P-256 key for this sign-in when the IdP takes ES256 proofs (RFC 9449 §5.1)."""
    if not wanted:
        terminal.say("DPoP          off (--no-dpop): Bearer tokens")
        return None
    if not offered(provider.dpop_signing_alg_values_supported):
        terminal.say("DPoP          not offered by the IdP for ES256 (discovery): Bearer tokens")
        return None
    key = DPoPKey.generate()
    terminal.say(f"DPoP          new ES256 key for this sign-in, thumbprint {key.thumbprint}")
    return key


@dataclass
class PasteSignIn:
    """The end user opens the printed URL, signs in, and pastes the receiver page's answer."""

    terminal: Terminal
    read_line: ReadLine
    code: str | None = None  # given up front (--code): no prompt
    open_browser: bool = False
    open_url: Callable[[str], bool] = webbrowser.open
    now: Callable[[], float] = time.time
    tries_left: int = field(default=PASTE_ATTEMPTS, init=False)  # shared by every way to fail

    def __call__(
        self,
        http: requests.Session,
        provider: oidc.Provider,
        rp: oidc.RelyingParty,
        dpop: DPoPKey | None = None,
    ) -> SignedIn:
        verifier = pkce.make_verifier()
        request = oidc.start_authorization(
            provider, rp, code_verifier=verifier, code_challenge=pkce.s256_challenge(verifier)
        )
        self.show_authorization_url(request.url)
        while True:
            pasted = self.read_code(request, provider)
            try:
                tokens = oidc.exchange_code(
                    http,
                    provider,
                    rp,
                    code=pasted.code,
                    code_verifier=request.code_verifier,
                    now=self.now(),
                    dpop=dpop,
                )
            except oidc.InvalidGrant as exc:
                if self.code is not None:  # given up front: nothing to ask again
                    raise
                # A mistyped or half-copied code: the sign-in at the IdP is still good.
                self.tries_left -= 1
                if self.tries_left <= 0:
                    raise
                self.terminal.warn(
                    f"The IdP refused that code ({exc}): mistyped, cut short, or already "
                    "used? Paste it again (the whole address is safest), or Ctrl+C to quit."
                )
                continue
            return SignedIn(tokens=tokens, nonce=request.nonce)

    def show_authorization_url(self, url: str) -> None:
        say = self.terminal.say
        say()
        say("Open this URL in your browser, sign in, and allow access:")
        say()
        say(f"  {url}")
        say()
        if self.open_browser and not self.open_url(url):
            say("(No browser could be opened from here: open the URL yourself.)")

    def read_code(
        self, request: oidc.AuthorizationRequest, provider: oidc.Provider
    ) -> oidc.PastedResponse:
        """The code given up front, or from the prompt; unreadable input is asked for again."""
        if self.code is not None:
            return self.parse_code(self.code, request, provider)
        self.terminal.say(
            "The receiver page then shows a code. Paste it, or the page's whole address."
        )
        while self.tries_left > 0:
            self.terminal.prompt("Authorization code: ")
            line = self.read_line()
            if not line:  # end of input: Ctrl+D, or a closed pipe
                raise ClientAbort(
                    "\nNo code entered (end of input). Run the client again to sign in."
                )
            try:
                return self.parse_code(line, request, provider, retry=True)
            except (oidc.UnreadablePaste, oidc.ResponseMismatch) as exc:
                self.tries_left -= 1
                self.terminal.warn(f"{sentence(str(exc))} Try again, or Ctrl+C to quit.")
        raise ClientAbort(f"No usable code after {PASTE_ATTEMPTS} tries. Run the client again.")

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
            raise ClientAbort(
                f"Sign-in did not complete: {exc}.{hint} Run the client again to retry."
            ) from exc
        except oidc.OIDCError as exc:
            if retry and isinstance(exc, oidc.UnreadablePaste | oidc.ResponseMismatch):
                raise  # the prompt asks again
            raise ClientAbort(f"Refusing the pasted response: {exc}.") from exc
        if pasted.state_checked:
            checked = "state" + (" and iss" if pasted.iss_checked else "") + " checked"
        else:
            checked = "a bare code: state and iss cannot be checked, the whole URL would allow it"
        self.terminal.say(f"Code {oidc.short(pasted.code)} accepted ({checked}).")
        return pasted
