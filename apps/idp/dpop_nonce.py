"""Server-provided DPoP nonces (RFC 9449 §8) that every instance can check without state.

A nonce is an HMAC of a time window's number under a key every instance holds: the one an
instance hands out now is the one every other instance expects, and nothing is stored. The
window before the current one is accepted too, so a nonce handed out just before a window
ends still works for the client's retry. No Django, no I/O.
"""

import base64
import hashlib
import hmac

WINDOW_SECONDS = 300  # how long one nonce is handed out; it is accepted up to twice as long
_PURPOSE = b"apps.idp.dpop_nonce"  # the key may serve other purposes: these MACs are ours


def _nonce_of_window(key: bytes, window: int) -> str:
    mac = hmac.new(key, _PURPOSE + b":" + str(window).encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:24]).decode("ascii")  # 32 chars, no padding


def _window(now: float, window_seconds: int) -> int:
    return int(now // window_seconds)


def current_nonce(key: bytes, now: float, window_seconds: int = WINDOW_SECONDS) -> str:
    """The nonce to send in `DPoP-Nonce` at `now` (seconds since the epoch)."""
    return _nonce_of_window(key, _window(now, window_seconds))


def accepted_nonces(
    key: bytes, now: float, window_seconds: int = WINDOW_SECONDS
) -> tuple[str, str]:
    """The nonces a proof may carry at `now`: the current window's and the previous one's."""
    window = _window(now, window_seconds)
    return _nonce_of_window(key, window), _nonce_of_window(key, window - 1)
