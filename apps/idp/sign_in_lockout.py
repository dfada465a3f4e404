"""Who a sign-in attempt comes from, for django-axes' account+address lockout.

Two hooks named in config/settings.py:

- `client_address` (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, unless DJANGO_TRUSTED_PROXY_COUNT
  says how many reverse proxies in front of the IdP append to X-Forwarded-For. Without that
  setting the header is ignored: anyone can send it, and trusting it would let an attacker
  pick a fresh address per guess (and dodge the lock) or pin a victim's address.
- `is_trusted_device` (AXES_WHITELIST_CALLABLE): OWASP's device cookie. After a successful
  sign-in the browser gets a signed cookie naming the account. An attempt for that account
  from a browser presenting it is not subject to the shared account+address lock, so a
  neighbour behind the same NAT (or load balancer) failing five times does not lock the
  person out. The device has its own counter instead: after AXES_FAILURE_LIMIT failures
  with the cookie, it counts for nothing and the shared lock applies again.

The per-device counters live in Django's cache (the default local-memory cache is per
process: with several processes a stolen cookie gets that many more guesses per process,
still bounded). A new cookie, with a fresh id, is issued on every successful sign-in.
"""

import ipaddress
import secrets

from axes.helpers import get_client_username
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

DEVICE_COOKIE = "idp_device"
DEVICE_COOKIE_MAX_AGE = 90 * 24 * 3600  # seconds; a browser unused this long is a stranger
_SALT = "apps.idp.sign_in_lockout.device"


def client_address(request: HttpRequest) -> str | None:
    """The address axes counts failures against: the peer, or what trusted proxies saw."""
    peer = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return peer
    # Each proxy appends the address it received the request from: with `count` proxies,
    # the entry `count` from the right was written by the outermost one, our own. Entries
    # further left are the client's to choose.
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < count:
        return peer  # did not come through all the proxies: nothing in it is trustworthy
    try:
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return peer


def remember_device(response: HttpResponse, username: str) -> None:
    """After a successful sign-in: give this browser a fresh device cookie for `username`."""
    value = signing.dumps({"u": username, "d": secrets.token_urlsafe(16)}, salt=_SALT)
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_MAX_AGE,
        secure=True,
        httponly=True,
        samesite="Lax",
    )


def is_trusted_device(request: HttpRequest, credentials: dict | None = None) -> bool:
    """True when the browser holds a device cookie for this account with failures to spare."""
    device = _device_id(request, credentials)
    if device is None:
        return False
    return cache.get(_failures_key(device), 0) < settings.AXES_FAILURE_LIMIT


def count_device_failure(sender, credentials: dict, request: HttpRequest | None = None, **kw):
    """user_login_failed receiver: one more failure for the device cookie presented, if any."""
    device = _device_id(request, credentials) if request is not None else None
    if device is None:
        return
    key = _failures_key(device)
    cache.add(key, 0, timeout=DEVICE_COOKIE_MAX_AGE)
    cache.incr(key)


def _device_id(request: HttpRequest, credentials: dict | None) -> str | None:
    value = request.COOKIES.get(DEVICE_COOKIE)
    if not value:
        return None
    try:
        device = signing.loads(value, salt=_SALT, max_age=DEVICE_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return None
    username = get_client_username(request, credentials)
    if not isinstance(device, dict) or not username or device.get("u") != username:
        return None
    return str(device.get("d"))


def _failures_key(device: str) -> str:
    return f"idp:sign-in-device-failures:{device}"
