"""How much of a request body the servers wait for, and how they refuse the rest.

A body that is larger than `max_bytes`, or that has not fully arrived `timeout_seconds`
after its headers, is refused: 413 or 408, `Connection: close`, so that the client cannot
carry on sending on that connection. The back-channel endpoints, which programs call, get
the OAuth JSON error (RFC 6749 §5.2) with `Cache-Control: no-store`; pages get plain text.
"""

import json
from collections.abc import AsyncIterable
from dataclasses import dataclass

from config.wsgi import BACK_CHANNEL_PATH

# A whole answer as granian's RSGI protocol writes it: status, headers, body in one piece.
Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    timeout_seconds: float

    def allows(self, content_length: str) -> bool:
        """Whether a declared Content-Length is within the limit (hyper has checked that it
        is a number; anything else is refused too)."""
        return content_length.isdigit() and int(content_length) <= self.max_bytes


@dataclass(frozen=True)
class Refusal:
    status: int
    description: str


TOO_LARGE = Refusal(413, "The request body is larger than this server accepts.")
TOO_SLOW = Refusal(408, "The request body did not arrive in time.")


class BodyTooLarge(Exception):
    """A body without Content-Length went past the limit while it was read."""


async def read_capped(chunks: AsyncIterable[bytes], max_bytes: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it passes `max_bytes`."""
    received = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        received.append(chunk)
    return b"".join(received)


def refusal_response(refusal: Refusal, path: str) -> Answer:
    """(status, headers, body) for a refused body: OAuth JSON on the back channel."""
    headers = [("Connection", "close"), ("X-Content-Type-Options", "nosniff")]
    if BACK_CHANNEL_PATH.match(path):
        body = {"error": "invalid_request", "error_description": refusal.description}
        headers += [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("Pragma", "no-cache"),
        ]
        return refusal.status, headers, json.dumps(body).encode()
    headers.append(("Content-Type", "text/plain; charset=utf-8"))
    return refusal.status, headers, refusal.description.encode()
