"""DPoP at the IdP's endpoints (RFC 9449): a request's proof, and the tokens bound to its key.

`apps.idp.dpop` makes the checks of a proof that need only the proof; here is what needs the
request, the settings and the database: one `DPoP` header, the URL as this IdP is configured
(`SITE_URL`, not a Host header), the server nonce (§8), the jti replay table shared by every
instance (§11.1), whether a client must use DPoP, and where a binding is kept:

- an access token is bound by its value: `dpop.<jkt>.<random>`. The IdP made that value
  and looks it up exactly, so the thumbprint in it is the IdP's own record, read without a
  join or a second table, whatever shape the stored row takes;
- a grant's key is `Grant.dpop_jkt`: a code bound by `dpop_jkt` at authorize (§10), and
  every refresh token of a public client that sent a proof (§5).

A request without a `DPoP` header costs one header lookup here, and a refresh of an unbound
grant reads nothing more than it did.
"""

import logging
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from oidc_provider.models import Client as OIDCClient

from apps.idp import audit, dpop, dpop_nonce, dpop_replay
from apps.idp.errors import InvalidDPoPProof, InvalidGrant, UseDPoPNonce
from apps.idp.models import DPoPClientPolicy, Grant

logger = logging.getLogger(__name__)

HEADER = "HTTP_DPOP"  # the `DPoP` request header, as WSGI names it
NONCE_HEADER = "DPoP-Nonce"
BOUND_PREFIX = "dpop."
_BOUND_LENGTH = len(BOUND_PREFIX) + 43  # the prefix and a SHA-256 thumbprint, then "."
POLICY_TTL_SECONDS = 10  # a client's "require DPoP", changed on another instance, counts here


def signing_algorithms() -> tuple[str, ...]:
    """The configured proof algorithms that apps.idp.dpop can verify (asymmetric ones)."""
    configured = (alg.strip() for alg in settings.OIDC_DPOP_SIGNING_ALGS)
    return tuple(alg for alg in configured if alg in dpop.ASYMMETRIC_ALGORITHMS)


# --- the proof a request carries


def has_proof(request: HttpRequest) -> bool:
    return HEADER in request.META


def request_url(request: HttpRequest) -> str:
    """The URL a proof's htu must name: this IdP's configured origin and the path requested."""
    return settings.SITE_URL + request.path


def _nonce_key() -> bytes:
    return settings.SECRET_KEY.encode("utf-8")


def current_nonce(now: float | None = None) -> str | None:
    """The nonce to hand out in `DPoP-Nonce`, or None when nonces are off."""
    if not settings.OIDC_DPOP_NONCE:
        return None
    return dpop_nonce.current_nonce(_nonce_key(), time.time() if now is None else now)


def check_proof(request: HttpRequest, *, access_token: str | None = None) -> dpop.Proof | None:
    """The request's valid, unused DPoP proof; None if it sent no `DPoP` header.

    `access_token`: the one the request presents to a protected resource (its `ath` is then
    checked). The proof's jti is recorded in the shared table, in the caller's transaction
    if there is one. Raises InvalidDPoPProof or UseDPoPNonce (OAuthError, status 400).
    """
    value = request.META.get(HEADER)
    if value is None:
        return None
    if "," in value:  # WSGI joins repeated headers with commas; a JWS has none (§4.3 step 1)
        raise InvalidDPoPProof("Send exactly one DPoP header.")
    now = time.time()
    nonces = dpop_nonce.accepted_nonces(_nonce_key(), now) if settings.OIDC_DPOP_NONCE else None
    try:
        proof = dpop.validate_proof(
            value,
            method=request.method or "",
            url=request_url(request),
            now=now,
            access_token=access_token,
            nonce=nonces,
            allowed_algs=signing_algorithms(),
        )
    except dpop.UseDPoPNonce as refusal:
        raise UseDPoPNonce("Send a DPoP proof with the nonce in DPoP-Nonce.") from refusal
    except dpop.InvalidDPoPProof as refusal:
        logger.info("DPoP proof refused: %s", refusal.reason)
        raise InvalidDPoPProof(f"The DPoP proof is invalid: {refusal.reason}.") from refusal
    if not remember_spent(proof):
        logger.info("DPoP proof replayed: key %s", proof.jkt)
        raise InvalidDPoPProof("This DPoP proof was used before: make one per request.")
    return proof


def remember_spent(proof: dpop.Proof) -> bool:
    """Record the proof's jti for its key (§11.1); False if it was recorded before."""
    expires_at = datetime.fromtimestamp(proof.expires_at, UTC)
    return dpop_replay.remember_jti(proof.jkt, proof.jti, expires_at)


def nonce_for_proofs(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """`with_nonce` for every answer to a request that carried a proof: a refusal with
    `use_dpop_nonce` is only answerable with the nonce, and a success hands out the next."""
    return with_nonce(response) if has_proof(request) else response


def with_nonce(response: HttpResponse) -> HttpResponse:
    """Hand out the current nonce (§8) when nonces are on: clients use it for their next proof."""
    nonce = current_nonce()
    if nonce is not None:
        response[NONCE_HEADER] = nonce
        response["Access-Control-Expose-Headers"] = NONCE_HEADER  # browsers show it to scripts
    return response


# --- access tokens bound by their value


def bind_access_token(access_token: str, jkt: str) -> str:
    """The value of `access_token` bound to the key whose thumbprint is `jkt` (cnf.jkt)."""
    return f"{BOUND_PREFIX}{jkt}.{access_token}"


def bound_jkt(access_token: str) -> str | None:
    """The thumbprint an access token is bound to; None for a Bearer token.

    Meaningful only for a value the IdP found in its tables: it made every such value.
    """
    if not access_token.startswith(BOUND_PREFIX):
        return None
    jkt = access_token[len(BOUND_PREFIX) : _BOUND_LENGTH]
    if access_token[_BOUND_LENGTH : _BOUND_LENGTH + 1] != "." or not dpop.is_thumbprint(jkt):
        return None
    return jkt


def token_type(access_token: str) -> str:
    """RFC 9449 §5: `DPoP` for a bound access token, else `Bearer`."""
    return "DPoP" if bound_jkt(access_token) else "Bearer"


# --- clients that must use DPoP

_policy_lock = threading.Lock()
_required: tuple[float, frozenset[int]] = (float("-inf"), frozenset())


def forget_policies() -> None:
    """Re-read which clients require DPoP at the next request (a change here, or a test)."""
    global _required
    _required = (float("-inf"), frozenset())


def requires_dpop(oidc_client: OIDCClient) -> bool:
    """Must this client send a proof with every token request? Read at most every
    POLICY_TTL_SECONDS per process: this runs on every token request that has no proof."""
    global _required
    loaded_at, client_ids = _required
    now = time.monotonic()
    if now - loaded_at >= POLICY_TTL_SECONDS:
        with _policy_lock:
            rows = DPoPClientPolicy.objects.filter(require_dpop=True)
            client_ids = frozenset(rows.values_list("client_id", flat=True))
            _required = (now, client_ids)
    return oidc_client.pk in client_ids


def forget_policies_on_change(sender, **kwargs) -> None:
    """Signal receiver (connected in apps.py) for saved and deleted DPoPClientPolicy rows."""
    forget_policies()


def check_client(proof: dpop.Proof | None, oidc_client: OIDCClient) -> None:
    """A client that requires DPoP gets no token without a proof (RFC 9449 §5)."""
    if proof is None and requires_dpop(oidc_client):
        raise InvalidDPoPProof("This client must send a DPoP proof with each token request.")


# --- grants bound to a key


def check_grant(
    proof: dpop.Proof | None, grant: Grant, oidc_client: OIDCClient, http: HttpRequest
) -> None:
    """A bound grant's code or refresh token is redeemed only with a proof of its key.

    No proof: `invalid_dpop_proof` (one is required, §5, §10); a proof of another key:
    `invalid_grant` (the grant is not this key's). Either is an audit event: someone other
    than the key holder may be using a copied code or token. Raised before any write, so the
    grant is as it was and the key holder goes on.
    """
    if not grant.dpop_jkt:
        return
    if proof is None:
        audit.record("dpop.proof_missing", http, client_id=oidc_client.client_id, grant_id=grant.pk)
        raise InvalidDPoPProof("This grant is bound to a DPoP key: send a proof signed with it.")
    if proof.jkt != grant.dpop_jkt:
        audit.record("dpop.key_mismatch", http, client_id=oidc_client.client_id, grant_id=grant.pk)
        raise InvalidGrant("The DPoP proof is signed by another key than this grant's.")


def bind(proof: dpop.Proof | None, token, grant: Grant | None, oidc_client: OIDCClient) -> None:
    """Bind a new token to the proof's key: its access token always, and for a public client
    the grant, so its refresh tokens too (§5). A confidential client's refresh tokens stay
    bound to its authentication: its grant's code binding is spent once exchanged.

    Call before the ID token's claims are made: at_hash is of the bound value.
    """
    if proof is not None:
        token.access_token = bind_access_token(token.access_token, proof.jkt)
    if grant is not None:
        bind_grant(proof, grant, oidc_client)


def bind_grant(proof: dpop.Proof | None, grant: Grant, oidc_client: OIDCClient) -> None:
    """The grant's half of `bind`: a public client's grant takes the proof's key (§5)."""
    public = oidc_client.client_type == "public"
    wanted = proof.jkt if (proof is not None and public) else (grant.dpop_jkt if public else "")
    if wanted != grant.dpop_jkt:
        Grant.objects.filter(pk=grant.pk).update(dpop_jkt=wanted)
        grant.dpop_jkt = wanted
