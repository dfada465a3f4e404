"""Settings for the IdP and the receiver: the one module that reads the environment.

Every variable is listed in `.env.example`. A default is chosen so that forgetting
the variable weakens nothing; where no safe default exists, the edge that needs the
value fails and names the variable.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


# --- Django core
# Off unless asked for: only then does runserver_plus add Werkzeug's debugger (apps.demo).
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
# Local and test fallback only; `manage.py check --deploy` flags it (security.W009).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-local-only")

# The two origins this project answers as. The IdP's is also the OIDC issuer's base:
# never derived from the request's Host header.
SITE_URL = os.environ.get("OIDC_SITE_URL", "https://idp.local:8443").rstrip("/")
RECEIVER_URL = os.environ.get("RECEIVER_URL", "https://mysrv.local:8444/")
OIDC_ISSUER = f"{SITE_URL}/oidc"

ALLOWED_HOSTS = sorted(
    {urlsplit(SITE_URL).hostname, urlsplit(RECEIVER_URL).hostname}
    | {host for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host}
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # First of the apps that define a command wins: apps.demo's runserver replaces
    # staticfiles' (it serves the IdP over HTTPS), its runserver_plus django_extensions'.
    "apps.demo",
    "django.contrib.staticfiles",
    "django_extensions",
    "axes",
    "apps.idp.library.OIDCProviderConfig",  # the library, with its migrations' AutoField kept
    "apps.idp",
    "apps.receiver",
    "apps.client",
]

MIDDLEWARE = [
    "apps.idp.metrics.count_requests",  # first: its latency covers the rest
    "apps.idp.audit.tag_requests",
    "django.middleware.security.SecurityMiddleware",
    "config.static_files.StaticFilesMiddleware",  # whitenoise, quiet before collectstatic
    "config.origins.route_by_origin",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "config.urls"  # the IdP; config.origins switches to the receiver's per request
RECEIVER_URLCONF = "apps.receiver.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database: SQLite file by default (the seed's db.sqlite3), PostgreSQL via DATABASE_URL
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=_env_int("DJANGO_CONN_MAX_AGE", 0),
        # No health check of kept connections (DJANGO_CONN_MAX_AGE > 0): it is one more round
        # trip on every request (make bench, PostgreSQL, C=32: 5.6 -> 4.6 ms server CPU per
        # refresh without it). After a database restart each kept connection fails one
        # request, and Django then drops it.
        conn_health_checks=False,
    )
}
# PostgreSQL: the statements every refresh and userinfo runs are prepared once per connection
# (apps/idp/token_sql.py). Set 0 behind a pooler in transaction mode that cannot carry
# prepared statements from one transaction to the next (PgBouncer before 1.21).
DATABASE_PREPARED_STATEMENTS = os.environ.get("DATABASE_PREPARED_STATEMENTS", "1") != "0"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django turns psycopg's preparing off; only token_sql's cursors, which bind on the
    # server, can use it: each statement is prepared on its 5th run on a connection.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if DATABASE_PREPARED_STATEMENTS else None
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue for the lock instead of failing with "database is locked":
        # IMMEDIATE takes the write lock at BEGIN, WAL lets readers continue meanwhile.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that servers in other threads of the test run share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out logins before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# collectstatic (make serve) also writes gzip copies, which whitenoise serves when asked.
# Not the Manifest variant: it would make every page fail until collectstatic has run.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Admin CSS without collectstatic under runserver_plus with DEBUG off. make serve runs
# collectstatic and sets DJANGO_STATIC_COLLECTED=1: whitenoise then serves STATIC_ROOT with
# its gzip copies (finders would shadow them with the apps' uncompressed originals).
WHITENOISE_USE_FINDERS = os.environ.get("DJANGO_STATIC_COLLECTED") != "1"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/admin/"

# --- Cookies and transport: both origins are HTTPS only
# The two origins may share a host name (localhost mode) and cookies ignore ports,
# so the IdP's cookies get names of their own; the receiver sets none.
SESSION_COOKIE_NAME = "idp_sessionid"
CSRF_COOKIE_NAME = "idp_csrftoken"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # forms carry the token; no script needs to read the cookie
SECURE_HSTS_SECONDS = _env_int("DJANGO_HSTS_SECONDS", 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True  # the demo owns its host names outright
# Asking browsers' preload lists for the name is a decision for a real public domain.
SECURE_HSTS_PRELOAD = os.environ.get("DJANGO_HSTS_PRELOAD") == "1"
# Both servers listen on TLS only, so nothing plain-HTTP reaches Django to be redirected;
# behind a proxy that also accepts HTTP, turn this on.
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT") == "1"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [SITE_URL]

# --- django-oidc-provider
OIDC_USERINFO = "apps.idp.claims.userinfo"
# Build the discovery document once per process (Django's default local-memory cache), under
# the key apps.idp.endpoints.discovery.ProviderInfoView names: make bench on the library's
# view, C=32, 1.14 -> 0.87 ms CPU per request.
OIDC_DISCOVERY_CACHE_ENABLE = True
OIDC_EXTRA_SCOPE_CLAIMS = "apps.idp.claims.ScopeDescriptions"
OIDC_CODE_EXPIRE = _env_int("OIDC_CODE_EXPIRE", 60)  # seconds; RFC 6749 §4.1.2 advises short
OIDC_TOKEN_EXPIRE = _env_int("OIDC_TOKEN_EXPIRE", 300)  # access tokens, seconds
OIDC_IDTOKEN_EXPIRE = _env_int("OIDC_IDTOKEN_EXPIRE", 300)
OIDC_REFRESH_IDLE_SECONDS = _env_int("OIDC_REFRESH_IDLE_SECONDS", 60 * 60 * 24)
OIDC_REFRESH_ABSOLUTE_SECONDS = _env_int("OIDC_REFRESH_ABSOLUTE_SECONDS", 60 * 60 * 24 * 14)
# A rotated refresh token presented again within this many seconds lost a race with its
# own rotation (parallel requests, a retry after a lost response): refused, but the grant
# is not revoked. Later, it is reuse, and the whole grant is revoked (RFC 9700 §4.14.2).
OIDC_REFRESH_REUSE_GRACE_SECONDS = 5
# Each process re-reads the RSAKey table at most this often (apps.idp.keys): a key added or
# removed on another instance is used or dropped here within this time. Rotating a key: add
# the new one, wait this long, then delete the old one.
OIDC_SIGNING_KEYS_TTL_SECONDS = _env_int("OIDC_SIGNING_KEYS_TTL_SECONDS", 10)
# manage.py purge_expired keeps a revoked grant (and django-axes' sign-in records) this many
# days, for the replay and reuse detection that names it, then deletes it.
OIDC_PURGE_REVOKED_AFTER_DAYS = _env_int("OIDC_PURGE_REVOKED_AFTER_DAYS", 7)
# Introspection answers carry the token's scope: the resource server checks it.
OIDC_INTROSPECTION_RESPONSE_SCOPE_ENABLE = True
OIDC_GRANT_TYPE_PASSWORD_ENABLE = False  # RFC 9700 §2.4; apps.idp refuses it regardless
# Device authorization grant (RFC 8628): how long a device code lives, how often the device
# may poll at first (seconds), and how many wrong user codes a person may type at /device
# within the window before being told to wait (§5.1: guessing must stay hopeless).
OIDC_DEVICE_CODE_EXPIRE = _env_int("OIDC_DEVICE_CODE_EXPIRE", 600)
OIDC_DEVICE_POLL_INTERVAL = _env_int("OIDC_DEVICE_POLL_INTERVAL", 5)
OIDC_DEVICE_USER_CODE_FAILURE_LIMIT = 5
OIDC_DEVICE_USER_CODE_WINDOW_SECONDS = 15 * 60
# DPoP (RFC 9449, apps.idp.dpop_binding): the proof algorithms accepted (asymmetric only;
# apps.idp.dpop knows which), and server nonces (§8): with OIDC_DPOP_NONCE=1 every proof
# must carry a nonce the IdP handed out in `DPoP-Nonce` (an HMAC of the time under
# SECRET_KEY, so every instance accepts every other's), at the cost of a retry per client.
OIDC_DPOP_SIGNING_ALGS = tuple(
    os.environ.get("OIDC_DPOP_SIGNING_ALGS", "ES256,PS256,RS256,EdDSA").split(",")
)
OIDC_DPOP_NONCE = os.environ.get("OIDC_DPOP_NONCE") == "1"  # off unless asked for

# Resource indicators (RFC 8707): the resources a client may ask tokens for with `resource`,
# comma-separated absolute URIs; any other is invalid_target. The default is the receiver's API.
OIDC_RESOURCES = [
    uri.strip()
    for uri in (
        os.environ.get("OIDC_RESOURCES") or f"{RECEIVER_URL.rstrip('/')}/api/profile"
    ).split(",")
    if uri.strip()
]
# Dynamic client registration (RFC 7591) of public native clients: at most this many per
# client address (apps.idp.sign_in_lockout.client_address) within the window; a registered
# client with no grant this long after registering is deleted by purge_expired.
OIDC_REGISTRATION_LIMIT = _env_int("OIDC_REGISTRATION_LIMIT", 10)
OIDC_REGISTRATION_WINDOW_SECONDS = _env_int("OIDC_REGISTRATION_WINDOW_SECONDS", 60 * 60)
OIDC_REGISTRATION_UNUSED_SECONDS = _env_int("OIDC_REGISTRATION_UNUSED_SECONDS", 60 * 60 * 24)

# --- /metrics (apps.idp.metrics): loopback callers, or this bearer secret from anywhere
OIDC_METRICS_TOKEN = os.environ.get("OIDC_METRICS_TOKEN", "")
# prometheus_client's own variable: where each worker process keeps its values (make serve).
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# --- django-axes: lock an account+address pair after repeated failed logins
AXES_FAILURE_LIMIT = _env_int("DJANGO_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# How many reverse proxies in front of the IdP append the peer's address to X-Forwarded-For.
# 0 (the default): the header is ignored and REMOTE_ADDR is the address, so a forged header
# cannot dodge the lock. apps.idp.sign_in_lockout reads it (django-ipware is not installed,
# so axes' own AXES_IPWARE_* settings would do nothing).
TRUSTED_PROXY_COUNT = _env_int("DJANGO_TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "apps.idp.sign_in_lockout.client_address"
# A browser that signed in to the account before (its device cookie) has its own counter
# and is not locked out by other people's failures from the same address.
AXES_WHITELIST_CALLABLE = "apps.idp.sign_in_lockout.is_trusted_device"

# --- the demo's files (certificates, the seeded client id); kept out of git
CERTS_DIR = BASE_DIR / "certs"  # the Procfile names these files too
# What make demo and make serve generate: the client id, the API's secret, the demo password.
VAR_DIR = Path(os.environ.get("DJANGO_VAR_DIR", BASE_DIR / "var"))
PKCE_CLIENT_ID_FILE = VAR_DIR / "pkce_client_id"

# --- apps.client (the CLI relying party)
PKCE_CLIENT_ID = os.environ.get("PKCE_CLIENT_ID", "")  # else the file seed_client writes
# The protected API pkce_client calls after sign-in and each refresh; unset: RECEIVER_URL's
# api/profile (read when the command starts, so a changed RECEIVER_URL moves it too).
PKCE_API_URL = os.environ.get("PKCE_API_URL", "")
OIDC_CA_BUNDLE = os.environ.get("OIDC_CA_BUNDLE") or str(CERTS_DIR / "ca.pem")

# --- apps.receiver's API: a resource server, a confidential client of the IdP that
# introspects tokens (RFC 7662). seed_resource_server registers it and writes its secret to
# the file, which is read when RESOURCE_SERVER_SECRET is unset.
RESOURCE_SERVER_CLIENT_ID = os.environ.get("RESOURCE_SERVER_CLIENT_ID", "resource-server")
RESOURCE_SERVER_SECRET = os.environ.get("RESOURCE_SERVER_SECRET", "")
RESOURCE_SERVER_SECRET_FILE = VAR_DIR / "resource_server_secret"
# How long an active introspection answer is reused (never past the token's exp): a revoked
# token keeps working at the API for up to this long.
RESOURCE_SERVER_CACHE_SECONDS = _env_int("RESOURCE_SERVER_CACHE_SECONDS", 30)

# Audit events go to stdout, or to this file (appended), one JSON line each.
AUDIT_LOG_FILE = os.environ.get("OIDC_AUDIT_LOG_FILE", "")

# Every handler passes records through RedactSecrets: no code, token or secret is written,
# at any level (django-oidc-provider logs them at DEBUG; request lines carry ?code=).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "config.redaction.RedactSecrets"}},
    "formatters": {"message": {"format": "%(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
        # Audit events (apps.idp.audit): JSON lines on stdout, or appended to a file.
        "audit": {
            "class": "logging.FileHandler" if AUDIT_LOG_FILE else "logging.StreamHandler",
            **({"filename": AUDIT_LOG_FILE} if AUDIT_LOG_FILE else {"stream": "ext://sys.stdout"}),
            "formatter": "message",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own request log and its admin mails get the same filter.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # django-axes narrates every sign-in at INFO; lockouts are WARNING and still shown.
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "idp.audit": {"handlers": ["audit"], "level": "INFO", "propagate": False},
        # runserver_plus sends Werkzeug's request lines (the receiver's carry ?code=) here,
        # and adds an unfiltered handler of its own only when this logger has none.
        "django_extensions.management.commands.runserver_plus": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
        },
    },
}

# --- make serve (config/rsgi.py, in front of the WSGI app under granian)
# Python threads per worker process that run Django; a sign-in holds one for its password
# hash (about 0.25 s).
SERVE_THREADS = _env_int("SERVE_THREADS", 2)
# A request body is read before any thread is given to it: refused with 413 beyond this many
# bytes (the largest form here is the admin's, with a client's logo), with 408 when it has
# not all arrived this many seconds after the headers.
SERVE_MAX_BODY_BYTES = _env_int("SERVE_MAX_BODY_BYTES", 1024 * 1024)
SERVE_BODY_TIMEOUT_SECONDS = _env_int("SERVE_BODY_TIMEOUT_SECONDS", 10)
