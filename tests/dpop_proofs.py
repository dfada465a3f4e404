"""DPoP proofs as a client makes them (RFC 9449 §4.2), for the IdP's tests.

Signed with joserfc, not the PyJWT the IdP verifies with: the two implementations must agree.
"""

import base64
import hashlib
import json
import secrets
import time

from joserfc import jws
from joserfc.jwk import ECKey


class ProofKey:
    """One client's P-256 key: its RFC 7638 thumbprint and the proofs it signs."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.jkt = self.key.thumbprint()

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
    ) -> str:
        claims = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time() if iat is None else iat),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
        return jws.serialize_compact(header, payload, self.key, algorithms=["ES256"])
