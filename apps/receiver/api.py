"""The receiver origin's protected API (RFC 6750) and its resource metadata (RFC 9728).

`GET /api/profile` answers for a bearer access token the IdP says is active (RFC 7662) and
that carries REQUIRED_SCOPES, and, if it was asked for a resource (RFC 8707), for this one.
Each refusal says why in `WWW-Authenticate` (RFC 6750 §3) and points at the API's metadata
document (RFC 9728 §5.1), which names the IdP as the authorization server.
"""

import threading

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from apps.receiver import introspection

REQUIRED_SCOPES = ("openid", "profile")  # who the person is: what /api/profile shows
SCOPES_SUPPORTED = REQUIRED_SCOPES
METADATA_PATH = "/.well-known/oauth-protected-resource"
API_PATH = "/api/profile"

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


def _challenge(**params: str) -> str:
    # RFC 6750 §3: auth-param values are quoted strings; ours hold no quote or backslash.
    params["resource_metadata"] = metadata_url()
    return "Bearer " + ", ".join(f'{name}="{value}"' for name, value in params.items())


def _refusal(status: int, error: str, description: str, **extra: str) -> HttpResponse:
    challenge = _challenge(error=error, error_description=description, **extra)
    return _json({"error": error, "error_description": description}, status, challenge)


def _bearer_token(request: HttpRequest) -> str | None:
    """The token of `Authorization: Bearer <token>`; "" when the header is malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme: no bearer credentials at all (RFC 6750 §3.1)
    token = token.strip()
    return token if token and " " not in token else ""


@csrf_exempt  # a back channel: no cookies are read, only the Authorization header
@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    """Who the token's person is: `sub`, the token's `scope` and the `client_id` it went to."""
    token = _bearer_token(request)
    if token is None:
        # No credentials: no error code (RFC 6750 §3.1), only where to learn what we need.
        return _json(
            {"error": "invalid_request", "error_description": "A bearer token is required."},
            401,
            _challenge(),
        )
    if not token:
        return _refusal(400, "invalid_request", "Send Authorization: Bearer <token>.")
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
        return _refusal(401, "invalid_token", "The access token is not active.")
    if active.audience and api_resource_identifier() not in active.audience:
        # Asked for another resource: meant for another API, which might replay it here.
        return _refusal(401, "invalid_token", "The access token is for another resource.")
    missing = [scope for scope in REQUIRED_SCOPES if scope not in active.scope]
    if missing:
        return _refusal(
            403,
            "insufficient_scope",
            f"The token lacks {' '.join(missing)}.",
            scope=" ".join(REQUIRED_SCOPES),
        )
    return _json(
        {"sub": active.sub, "scope": list(active.scope), "client_id": active.client_id}, 200
    )


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
            "resource_name": "Receiver profile API",
        }
    )
    response["Cache-Control"] = "max-age=300"
    return response
