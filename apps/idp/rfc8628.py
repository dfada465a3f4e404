"""RFC 8628 device authorization rules: device and user codes, polling. No Django, no I/O."""

import secrets
from datetime import datetime

# RFC 8628 §6.1: consonants only (no vowels, so no words), upper case, no look-alike digits.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8  # 20^8, about 2^34.6: with §5.1's throttling, guessing one is hopeless
SLOW_DOWN_SECONDS = 5  # RFC 8628 §3.5: each slow_down adds 5 s to the interval


def new_device_code() -> str:
    return secrets.token_urlsafe(32)  # 256 bits; only its SHA-256 hash is stored


def new_user_code() -> str:
    """Eight letters of USER_CODE_ALPHABET, stored without the dash (see `display_user_code`)."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display_user_code(code: str) -> str:
    """`WDJBMJHT` as people read it: `WDJB-MJHT`."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(typed: str) -> str | None:
    """What a person typed, as stored: upper case, dashes and spaces dropped (RFC 8628 §6.1);
    None if it cannot be a user code (then it is never looked up)."""
    code = "".join(char for char in typed if char not in "- \t").upper()
    if len(code) != USER_CODE_LENGTH or any(char not in USER_CODE_ALPHABET for char in code):
        return None
    return code


def polled_too_fast(last_polled_at: datetime | None, now: datetime, interval_seconds: int) -> bool:
    """RFC 8628 §3.5: a poll sooner than `interval` after the previous one earns slow_down."""
    if last_polled_at is None:
        return False
    return (now - last_polled_at).total_seconds() < interval_seconds


def too_many_wrong_user_codes(wrong_recently: int, limit: int) -> bool:
    """RFC 8628 §5.1: after `limit` wrong codes in the window, a person may try no more."""
    return wrong_recently >= limit
