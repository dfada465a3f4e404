"""django-oidc-provider as this project installs it, and what of its insides we rely on.

The library's public face is its views and settings. We also lean on helpers, attributes and
columns it does not promise to keep; each is listed in `LIBRARY_INTERNALS` with where and
why, and tests/idp/test_library_internals.py checks every one, so that an upgrade that
changes one fails a test instead of an endpoint.
"""

from oidc_provider.apps import OIDCProviderConfig as LibraryConfig


class OIDCProviderConfig(LibraryConfig):
    # The library's migrations use AutoField; with the project's BigAutoField default,
    # makemigrations would otherwise want to write a migration into site-packages.
    default_auto_field = "django.db.models.AutoField"


# (what, where we use it, why)
LIBRARY_INTERNALS: tuple[tuple[str, str, str], ...] = (
    (
        "oidc_provider.lib.endpoints.authorize.AuthorizeEndpoint: validate_params(), "
        "create_code(), .params, .client, .is_authentication",
        "endpoints/authorize.py",
        "subclassed: the library's client and redirect_uri checks run first, ours after",
    ),
    (
        "oidc_provider.lib.endpoints.authorize.AuthorizeEndpoint.client_class, and "
        "validate_params() checking `redirect_uri in self.client.redirect_uris`",
        "endpoints/authorize.py, models.LoopbackAwareClient",
        "a client class whose redirect_uris apply policy.redirect_uri_matches (loopback ports)",
    ),
    (
        "oidc_provider.lib.endpoints.authorize.AuthorizeEndpoint.create_response_uri() calls "
        "self.create_code(), then only its save() and its .code (for response_type=code)",
        "endpoints/authorize.py",
        "create_code saves the code's hash itself and returns the value for the redirect",
    ),
    (
        "oidc_provider.lib.endpoints.introspection.TokenIntrospectionEndpoint: __init__ calls "
        "_extract_params(), which sets params['token']; validate_params() looks it up as "
        "Token.access_token",
        "endpoints/introspection.py",
        "the token is replaced by its hash there, so the library finds the hashed row",
    ),
    (
        "oidc_provider.lib.utils.token.create_token and create_code: values are uuid4().hex",
        "policy.hashed_once, migrations/*_hash_tokens_at_rest.py",
        "32 hex digits never look like a stored 64-hex-digit hash, so nothing is hashed twice",
    ),
    (
        "oidc_provider.lib.claims.ScopeClaims.get_scopes_info(scopes): name, description",
        "device.py",
        "the device consent page describes scopes as the code flow's consent page does",
    ),
    (
        "oidc_provider.views.AuthorizeView.get/post call self.authorize_endpoint_class(request)",
        "endpoints/authorize.py",
        "overridden as a method, to keep the endpoint (its redirect_uri and client)",
    ),
    (
        "oidc_provider.lib.errors.AuthorizeError(redirect_uri, error, grant_type): "
        ".description, .grant_type; caught by AuthorizeView.get/post",
        "endpoints/authorize.py",
        "how our OAuthError reaches the library's redirect to the client",
    ),
    (
        "oidc_provider.lib.errors.ClientIdError, RedirectUriError: .error, .description",
        "endpoints/authorize.py",
        "the library's post() lets them out: we render its page",
    ),
    (
        "oidc_provider.lib.utils.oauth2.extract_client_auth(request) -> (id, secret)",
        "grants/common.py, grants/refresh_token.py, endpoints/introspection.py",
        "client_secret_basic and client_secret_post parsed as the library does",
    ),
    (
        "oidc_provider.lib.utils.token.create_token(user, client, scope): unsaved Token",
        "grants/*.py",
        "fresh access and refresh values and expiry, as the library's tokens have",
    ),
    (
        "oidc_provider.lib.utils.token.create_id_token(token, user, aud, nonce, at_hash, "
        "request, scope) and encode_id_token(payload, client)",
        "id_token.py (tests/idp/test_id_token.py), grants/common.py",
        "the ID token's claims id_token.claims makes as the library does; HS256 signing",
    ),
    (
        "oidc_provider.settings.default_settings.<name> and import_from_str(dotted_path)",
        "id_token.py",
        "the library's defaults for its OIDC_IDTOKEN_* settings, and its hooks imported",
    ),
    (
        "oidc_provider.lib.claims.StandardScopeClaims(token).create_response_dic()",
        "endpoints/userinfo.py",
        "userinfo's claims per scope, through OIDC_USERINFO",
    ),
    (
        "oidc_provider.lib.claims.ScopeClaims.__init__(token): .user, .userinfo (a copy of "
        "STANDARD_CLAIMS through OIDC_USERINFO), .scopes, .client; STANDARD_CLAIMS holds "
        "strings and one dict of strings",
        "claims.py",
        "ScopesListedOnce sets the same attributes with a two-level copy, not a deepcopy",
    ),
    (
        "oidc_provider.lib.claims.ScopeClaims._scopes_registered(): the scope_* method names, "
        "called by create_response_dic() for each scope",
        "claims.py",
        "ScopesListedOnce lists them once per class instead of once per scope",
    ),
    (
        "oidc_provider.settings.get(name, import_str=False)",
        "endpoints/userinfo.py",
        "OIDC_EXTRA_SCOPE_CLAIMS with the library's defaults",
    ),
    (
        "oidc_provider.views.ProviderInfoView._build_response_dict(request), "
        "_build_cache_key(request), called by get()",
        "endpoints/discovery.py",
        "the discovery document amended, and its cache key",
    ),
    (
        "oidc_provider.views.TokenIntrospectionView.token_instrospection_endpoint_class"
        ".response(dict)",
        "endpoints/introspection.py",
        "an inactive answer shaped as the library's",
    ),
    (
        "oidc_provider.views.EndSessionView.logout_user(request, id_token_hint, "
        "post_logout_redirect_uri, state, client, next_page)",
        "endpoints/end_session.py",
        "the logout with OIDC_AFTER_END_SESSION_HOOK, after our confirmation",
    ),
    (
        "oidc_provider.models.Token columns _scope and _id_token",
        "token_sql.py",
        "the prebuilt refresh and userinfo statements read and write them",
    ),
    (
        "oidc_provider.models.Code: code, client, user, scope, nonce, is_authentication, "
        "code_challenge, code_challenge_method, has_expired()",
        "grants/authorization_code.py",
        "the code exchange reads the library's code row",
    ),
    (
        "oidc_provider.models.RSAKey.kid: MD5 hex of the PEM",
        "keys.py",
        "our JWKS publishes RSA keys under the library's kid",
    ),
)
