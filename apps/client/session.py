"""What the client holds once signed in, and the clock it runs by."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from apps.client import oidc
from apps.client.dpop import DPoPKey


@dataclass(frozen=True)
class Clock:
    """How the client waits and tells time; tests pass instant sleeps."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], float] = time.time  # seconds since the epoch, for token times


@dataclass
class ClientSession:
    """The signed-in state (not an HTTP session): the IdP, this client, its latest tokens."""

    provider: oidc.Provider
    rp: oidc.RelyingParty
    keys: oidc.SigningKeys
    nonce: str
    tokens: oidc.Tokens = field(repr=False)
    sub: str = ""  # the first ID token's, once validated
    user: str = ""  # a name to show: userinfo's preferred_username or name
    refreshes: int = 0
    resumed: bool = False  # from a kept grant: no nonce to check (OIDC Core 12.2)
    dpop: DPoPKey | None = None  # the key the tokens are bound to (RFC 9449); None: Bearer

    def validate_id_token(self, tokens: oidc.Tokens, *, now: float) -> oidc.VerifiedToken:
        """The first ID token needs its nonce (OIDC Core 3.1.3.7); refreshed ones keep the sub
        and may lack the nonce (12.2)."""
        return oidc.validate_id_token(
            tokens.id_token or "",
            self.keys,
            issuer=self.provider.issuer,
            client_id=self.rp.client_id,
            nonce=self.nonce,
            access_token=tokens.access_token,
            now=now,
            nonce_required=not self.sub and bool(self.nonce),  # device grant: none sent
            sub=self.sub or None,
        )
