"""The receiver origin's protected API (RFC 6750, RFC 9449) and its resource metadata (RFC 9728).

`GET /api/profile` answers for an access token the IdP says is active (RFC 7662), that
carries REQUIRED_SCOPES and, if it was asked for a resource (RFC 8707), was asked for this one:
a Bearer token, or a DPoP-bound one with a proof of its key. Each refusal says why in
`WWW-Authenticate` (RFC 6750 §3, RFC 9449 §7.1) and points at the API's metadata
document (RFC 9728 §5.1), which names the IdP as the authorization server.
"""

import hmac
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urljoin

import requests
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

# The IdP's proof checks are plain Python (no Django, no database): the API reuses them
# rather than keeping a second copy; what needs state (the jti log) is the API's own.
from apps.idp import dpop
from apps.receiver import introspection, replay

REQUIRED_SCOPES = ("openid", "profile")  # who the person is: what /api/profile shows
SCOPES_SUPPORTED = REQUIRED_SCOPES
METADATA_PATH = "/.well-known/oauth-protected-resource"
API_PATH = "/api/profile"
RETRY_AFTER_SECONDS = 5  # a database outage: when a client may try again

_cache_lock = threading.Lock()
_cache: introspection.IntrospectionCache | None = None


def resource_identifier() -> str:
    """The receiver's origin (no path): its metadata is then at METADATA_PATH (RFC 9728 §3)."""
    return settings.RECEIVER_URL.rstrip("/")


def api_resource_identifier() -> str:
    """The API's own identifier, the `resource` a client asks its tokens for (RFC 8707)."""
    return resource_identifier() + API_PATH


def metadata_url() -> str:
    """The API's metadata: the well-known prefix inserted before its path (RFC 9728 §3.1)."""
    return resource_identifier() + METADATA_PATH + API_PATH


def _introspection_cache() -> introspection.IntrospectionCache:
    global _cache
    with _cache_lock:
        ttl = settings.RESOURCE_SERVER_CACHE_SECONDS
        if _cache is None or _cache.ttl_seconds != ttl:
            _cache = introspection.IntrospectionCache(ttl)
        return _cache


def _secret() -> str:
    if settings.RESOURCE_SERVER_SECRET:
        return settings.RESOURCE_SERVER_SECRET
    secret_file = settings.RESOURCE_SERVER_SECRET_FILE
    return secret_file.read_text().strip() if secret_file.exists() else ""


def _json(body: dict, status: int, challenge: str | None = None) -> HttpResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    if challenge is not None:
        response["WWW-Authenticate"] = challenge
    return response


def _challenge(scheme: str = "Bearer", **params: str) -> str:
    # RFC 6750 §3: auth-param values are quoted strings; ours hold no quote or backslash.
    if scheme == "DPoP":
        params["algs"] = " ".join(dpop.DEFAULT_ALGORITHMS)  # RFC 9449 §7.1
    params["resource_metadata"] = metadata_url()
    return f"{scheme} " + ", ".join(f'{name}="{value}"' for name, value in params.items())


def _both_challenges() -> str:
    """No credentials: either scheme will do (RFC 9449 §7.2), as one comma-joined header."""
    return f"{_challenge('Bearer')}, {_challenge('DPoP')}"


def _refusal(
    status: int, error: str, description: str, *, scheme: str = "Bearer", **extra: str
) -> HttpResponse:
    challenge = _challenge(scheme, error=error, error_description=description, **extra)
    return _json({"error": error, "error_description": description}, status, challenge)


def _credentials(request: HttpRequest) -> tuple[str, str] | None:
    """("Bearer" or "DPoP", token) of the Authorization header; the token is "" when the
    header is malformed; None when there are no credentials of either scheme."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    scheme = {"bearer": "Bearer", "dpop": "DPoP"}.get(scheme.lower(), "")
    if not scheme:
        return None  # another scheme: no credentials of ours at all (RFC 6750 §3.1)
    token = token.strip()
    return scheme, token if token and " " not in token else ""


def _checked_proof(request: HttpRequest, token: str) -> dpop.Proof:
    """The request's DPoP proof, checked as RFC 9449 §4.3 and §7.1 ask, and used once."""
    header = request.headers.get("DPoP")
    if not header or "," in header:  # WSGI joins repeated headers with commas (§4.3 step 1)
        raise dpop.InvalidDPoPProof("send exactly one DPoP header with the request")
    url = urljoin(settings.RECEIVER_URL, request.path)  # our own address, not the Host's
    proof = dpop.validate_proof(
        header, method=request.method or "", url=url, now=time.time(), access_token=token
    )
    expires_at = datetime.fromtimestamp(proof.expires_at, UTC)
    if not replay.remember_proof(proof.jkt, proof.jti, expires_at, now=timezone.now()):
        raise dpop.InvalidDPoPProof("this proof was used before (its jti is known)")
    return proof


@csrf_exempt  # a back channel: no cookies are read, only the Authorization header
@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    """Who the token's person is: `sub`, the token's `scope` and the `client_id` it went to.

    A DPoP-bound token is accepted only as `Authorization: DPoP` with a proof of its key
    (RFC 9449 §7.1); a Bearer token, as before, as `Authorization: Bearer`.
    """
    credentials = _credentials(request)
    if credentials is None:
        # No credentials: no error code (RFC 6750 §3.1), only where to learn what we need.
        return _json(
            {"error": "invalid_request", "error_description": "An access token is required."},
            401,
            _both_challenges(),
        )
    scheme, token = credentials
    if not token:
        return _refusal(
            400, "invalid_request", f"Send Authorization: {scheme} <token>.", scheme=scheme
        )
    proof = None
    if scheme == "DPoP":
        try:
            proof = _checked_proof(request, token)
        except dpop.InvalidDPoPProof as refusal:
            return _refusal(401, "invalid_dpop_proof", refusal.reason, scheme="DPoP")
        except DatabaseError:  # the jti log is out of reach: no proof can be accepted once
            response = _json(
                {
                    "error": "temporarily_unavailable",
                    "error_description": "The API cannot record the DPoP proof (its database "
                    "does not answer); try again shortly.",
                },
                503,
            )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
    secret = _secret()
    if not secret:
        return _json(
            {
                "error": "temporarily_unavailable",
                "error_description": "RESOURCE_SERVER_SECRET is not set: this resource server "
                "cannot ask the IdP about tokens (run manage.py seed_resource_server).",
            },
            503,
        )
    try:
        active = _introspection_cache().lookup(token, lambda value: _ask_idp(value, secret))
    except introspection.IntrospectionError as exc:
        return _json({"error": "temporarily_unavailable", "error_description": f"IdP: {exc}"}, 503)
    if active is None:
        return _refusal(401, "invalid_token", "The access token is not active.", scheme=scheme)
    if active.audience and api_resource_identifier() not in active.audience:
        # Asked for another resource: meant for another API, which might replay it here.
        return _refusal(
            401, "invalid_token", "The access token is for another resource.", scheme=scheme
        )
    refused = _binding_refusal(active, proof)
    if refused is not None:
        return refused
    missing = [scope for scope in REQUIRED_SCOPES if scope not in active.scope]
    if missing:
        return _refusal(
            403,
            "insufficient_scope",
            f"The token lacks {' '.join(missing)}.",
            scheme=scheme,
            scope=" ".join(REQUIRED_SCOPES),
        )
    return _json(
        {"sub": active.sub, "scope": list(active.scope), "client_id": active.client_id}, 200
    )


def _binding_refusal(
    active: introspection.ActiveToken, proof: dpop.Proof | None
) -> HttpResponse | None:
    """RFC 9449 §7.1-7.2: a bound token only with a proof of its key; a proof only with one."""
    if active.jkt is not None and proof is None:
        # Whoever copied a bound token must not get in by calling it a bearer token.
        return _refusal(
            401,
            "invalid_token",
            "The access token is DPoP-bound: send it as Authorization: DPoP, with a proof.",
            scheme="DPoP",
        )
    if active.jkt is not None and proof is not None:
        if not hmac.compare_digest(active.jkt, proof.jkt):
            return _refusal(
                401,
                "invalid_dpop_proof",
                "The proof is signed by another key than the one the token is bound to.",
                scheme="DPoP",
            )
    elif proof is not None:
        return _refusal(
            401,
            "invalid_token",
            "The access token is not DPoP-bound: send it as Authorization: Bearer.",
            scheme="DPoP",
        )
    return None


def _ask_idp(token: str, secret: str) -> introspection.ActiveToken | None:
    with requests.Session() as http:
        http.trust_env = False  # REQUESTS_CA_BUNDLE and proxies must not redirect this call
        http.verify = settings.OIDC_CA_BUNDLE
        return introspection.introspect(
            http,
            f"{settings.SITE_URL}/oidc/introspect",
            token,
            client_id=settings.RESOURCE_SERVER_CLIENT_ID,
            client_secret=secret,
        )


@require_GET
def protected_resource_metadata(request: HttpRequest) -> HttpResponse:
    """RFC 9728 §2-3: what a client needs to know to call /api/profile, for the receiver's
    origin as a whole (`resource` is the origin)."""
    return _metadata(resource_identifier())


@require_GET
def api_resource_metadata(request: HttpRequest) -> HttpResponse:
    """RFC 9728 §3.1: the same for the API's own identifier, .../api/profile, which the
    refusals point at: a client asks the IdP for tokens for this `resource`."""
    return _metadata(api_resource_identifier())


def _metadata(resource: str) -> HttpResponse:
    response = JsonResponse(
        {
            "resource": resource,
            "authorization_servers": [settings.OIDC_ISSUER],
            "scopes_supported": list(SCOPES_SUPPORTED),
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": list(dpop.DEFAULT_ALGORITHMS),  # RFC 9449 §5.1
            # Bearer tokens still work here; a DPoP-bound one needs its proof (RFC 9728 §2).
            "dpop_bound_access_tokens_required": False,
            "resource_name": "Receiver profile API",
        }
    )
    response["Cache-Control"] = "max-age=300"
    return response
