"""PKCE helpers (RFC 7636). No Django, no I/O."""

import base64
import hashlib
import secrets


def make_verifier() -> str:
    return secrets.token_urlsafe(32)  # 43 chars of the unreserved set; §4.1 allows 43..128


def s256_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
