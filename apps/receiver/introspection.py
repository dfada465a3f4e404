"""Ask the IdP whether an access token is active (RFC 7662), with a short cache. No Django.

The resource server is a confidential client of the IdP: it authenticates with HTTP Basic
(RFC 7662 §2.1, RFC 6749 §2.3.1) and learns the token's subject, scope and client, and the
thumbprint of the key a DPoP-bound token is bound to (`cnf.jkt`, RFC 9449 §6.2).
"""

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT_SECONDS = 5
CACHE_MAX_ENTRIES = 10_000  # a bound on memory, whatever tokens callers send


class IntrospectionError(Exception):
    """The IdP could not say whether the token is active (unreachable, refused us, not JSON)."""


@dataclass(frozen=True)
class ActiveToken:
    sub: str
    scope: tuple[str, ...]
    client_id: str
    exp: float | None  # seconds since the epoch, when the IdP says
    # RFC 8707 resources the token is for; () for a token asked for no resource.
    audience: tuple[str, ...] = ()
    jkt: str | None = None  # DPoP-bound: only proofs of this key may use it; None: a Bearer token


def _active_token(answer: dict[str, Any]) -> ActiveToken | None:
    if answer.get("active") is not True:
        return None
    sub, client_id, scope = answer.get("sub"), answer.get("client_id"), answer.get("scope", "")
    if not isinstance(sub, str) or not sub or not isinstance(client_id, str):
        return None  # a token of no user (client_credentials) has no profile to show
    if not isinstance(scope, str):
        raise IntrospectionError("the introspection answer's scope is not a string")
    exp = answer.get("exp")
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float)):
        raise IntrospectionError("the introspection answer's exp is not a number")
    aud = answer.get("aud", [])
    audience = (aud,) if isinstance(aud, str) else aud
    if not isinstance(audience, list | tuple) or not all(isinstance(a, str) for a in audience):
        raise IntrospectionError("the introspection answer's aud is not a string or a list")
    return ActiveToken(
        sub=sub,
        scope=tuple(scope.split()),
        client_id=client_id,
        exp=exp,
        audience=tuple(audience),
        jkt=_bound_key(answer),
    )


def _bound_key(answer: dict[str, Any]) -> str | None:
    """cnf.jkt (RFC 9449 §6.2); an answer that says DPoP but names no key is no answer."""
    cnf = answer.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if isinstance(jkt, str) and jkt:
        return jkt
    if cnf is not None or str(answer.get("token_type", "")).lower() == "dpop":
        raise IntrospectionError("the introspection answer's cnf names no DPoP key (jkt)")
    return None


def introspect(
    http: requests.Session,
    endpoint: str,
    token: str,
    *,
    client_id: str,
    client_secret: str,
) -> ActiveToken | None:
    """The token as the IdP describes it, or None when it is not active (§2.2)."""
    try:
        response = http.post(
            endpoint,
            data={"token": token, "token_type_hint": "access_token"},
            auth=(client_id, client_secret),
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise IntrospectionError(f"{endpoint} did not answer: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise IntrospectionError(f"{endpoint} answered {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise IntrospectionError(f"{endpoint} did not answer JSON") from exc
    if not isinstance(answer, dict):
        raise IntrospectionError(f"{endpoint} did not answer a JSON object")
    return _active_token(answer)


def _cache_key(token: str) -> str:
    # The token itself never sits in memory longer than the request that carried it.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class IntrospectionCache:
    """Remembers active tokens for `ttl_seconds`, never beyond their `exp`.

    Only active answers are kept: an unknown token is asked about each time, so a flood of
    random tokens cannot fill the cache, and a token becomes usable as soon as it is issued.
    A revoked token stays usable here until its entry ends: that delay is the price of the
    cache (ttl_seconds=0 turns it off).
    """

    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.time) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, ActiveToken]] = {}
        self._lock = threading.Lock()

    def lookup(self, token: str, ask: Callable[[str], ActiveToken | None]) -> ActiveToken | None:
        """The cached answer for `token`, else `ask(token)`'s (which the cache then keeps)."""
        key, now = _cache_key(token), self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
            self._entries.pop(key, None)
        active = ask(token)
        if active is None:
            return None
        if active.exp is not None and active.exp <= now:
            return None  # the IdP's clock and ours disagree: trust the earlier end
        until = now + self.ttl_seconds
        if active.exp is not None:
            until = min(until, active.exp)
        if until > now:
            with self._lock:
                self._make_room(now)
                self._entries[key] = (until, active)
        return active

    def _make_room(self, now: float) -> None:
        if len(self._entries) < CACHE_MAX_ENTRIES:
            return
        for key in [key for key, (until, _) in self._entries.items() if until <= now]:
            del self._entries[key]
        while len(self._entries) >= CACHE_MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]  # the oldest insertion
