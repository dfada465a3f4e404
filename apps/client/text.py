"""Text fit for a terminal: control characters replaced, secrets shown only as tags."""

import hashlib
import re

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def to_printable(text: str, *, limit: int = 200) -> str:
    """`text` with control characters replaced and length capped: safe to show in a terminal."""
    cleaned = _UNPRINTABLE.sub("?", str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def short(secret: str | None, length: int = 6) -> str:
    """A short prefix of a code, enough to match it with the receiver page, too little to use."""
    return f"{secret[:length]}…" if secret else "(none)"


def token_tag(token: str | None) -> str:
    """An 8-hex display tag of a token's SHA-256: tells two tokens apart even when they share
    a prefix (a refresh token family's id, say), and reveals none of the token."""
    if not token:
        return "(none)"
    return "#" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:8]
