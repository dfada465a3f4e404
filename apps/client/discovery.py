"""OpenID Connect Discovery 1.0: the IdP's endpoints from its discovery document."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.client.errors import OIDCError
from apps.client.transport import answer, send


@dataclass(frozen=True)
class Provider:
    """The endpoints of an IdP, from its discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    revocation_endpoint: str | None = None
    device_authorization_endpoint: str | None = None  # RFC 8628 §4
    # RFC 9207 §3: when true, every authorization response must carry `iss`.
    authorization_response_iss_parameter_supported: bool = False
    # RFC 9449 §5.1: the JWS algorithms its DPoP proofs may use; none listed, no DPoP.
    dpop_signing_alg_values_supported: tuple[str, ...] = ()


def _require_https(name: str, url: Any) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme != "https":
        raise OIDCError(f"discovery's {name} is not an https URL: {url!r}")
    return url


def discover(http: requests.Session, issuer: str) -> Provider:
    """Fetch the discovery document; its `issuer` must equal ours exactly (Discovery §4.3)."""
    _require_https("issuer", issuer)
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"  # Discovery §4.1
    meta = answer(send(http, "GET", url), "discovery")
    if meta.get("issuer") != issuer:
        raise OIDCError(f"discovery names issuer {meta.get('issuer')!r}, expected {issuer!r}")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        if name not in meta:
            raise OIDCError(f"discovery document lacks {name}")
        endpoints[name] = _require_https(name, meta[name])
    revocation = meta.get("revocation_endpoint")
    dpop_algs = meta.get("dpop_signing_alg_values_supported")
    if not isinstance(dpop_algs, list) or not all(isinstance(alg, str) for alg in dpop_algs):
        dpop_algs = []
    device = meta.get("device_authorization_endpoint")
    return Provider(
        device_authorization_endpoint=_require_https("device_authorization_endpoint", device)
        if device
        else None,
        issuer=issuer,
        revocation_endpoint=_require_https("revocation_endpoint", revocation)
        if revocation
        else None,
        authorization_response_iss_parameter_supported=meta.get(
            "authorization_response_iss_parameter_supported"
        )
        is True,
        dpop_signing_alg_values_supported=tuple(dpop_algs),
        **endpoints,
    )
