"""Each django-oidc-provider internal listed in apps.idp.library.LIBRARY_INTERNALS, checked.

A failure here means a library upgrade changed something the IdP leans on: read the entry's
"why" in LIBRARY_INTERNALS before adapting the code that uses it.
"""

import base64
import hashlib
import inspect
import re

from django.test import RequestFactory
from oidc_provider import settings as library_settings
from oidc_provider import views
from oidc_provider.lib.claims import StandardScopeClaims
from oidc_provider.lib.endpoints.authorize import AuthorizeEndpoint
from oidc_provider.lib.endpoints.introspection import TokenIntrospectionEndpoint
from oidc_provider.lib.errors import AuthorizeError, ClientIdError, RedirectUriError
from oidc_provider.lib.utils.oauth2 import extract_client_auth
from oidc_provider.lib.utils.token import (
    create_code,
    create_id_token,
    create_token,
    encode_id_token,
)
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, RSAKey, Token

from apps.idp.claims import ScopeDescriptions
from apps.idp.library import LIBRARY_INTERNALS
from tests.idp.oauth import CLIENT_ID, REDIRECT_URI

requests = RequestFactory()


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_every_internal_says_where_and_why():
    assert all(what and where and why for what, where, why in LIBRARY_INTERNALS)


def test_authorize_endpoint_validates_into_params_client_and_is_authentication(public_client):
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    endpoint = AuthorizeEndpoint(requests.get("/oidc/authorize", query))
    endpoint.validate_params()
    assert endpoint.client.client_id == CLIENT_ID
    assert endpoint.is_authentication is True
    assert endpoint.params["scope"] == ["openid", "email"]
    for name in ("redirect_uri", "response_type", "state", "nonce", "code_challenge"):
        assert endpoint.params[name] == query[name]
    assert endpoint.params["code_challenge_method"] == "S256"
    assert parameters(AuthorizeEndpoint.create_code) == ["self"]


def test_authorize_endpoint_uses_only_save_and_code_of_what_create_code_returns():
    source = inspect.getsource(AuthorizeEndpoint.create_response_uri)
    assert "code = self.create_code()\n" in source
    assert "code.save()\n" in source
    assert source.count("code.") == source.count("code.save()") + source.count("code.code")


def test_introspection_endpoint_looks_up_the_token_param_as_the_access_token():
    assert "self._extract_params()" in inspect.getsource(TokenIntrospectionEndpoint.__init__)
    endpoint = TokenIntrospectionEndpoint(requests.post("/oidc/introspect", {"token": "t"}))
    assert endpoint.params["token"] == "t"
    source = inspect.getsource(TokenIntrospectionEndpoint.validate_params)
    assert 'Token.objects.get(access_token=self.params["token"])' in source


def test_library_codes_and_tokens_are_32_hex_digits(public_client):
    token = create_token(user=None, client=public_client, scope=["openid"])
    code = create_code(None, public_client, ["openid"], "", True)
    for value in (token.access_token, token.refresh_token, code.code):
        assert re.fullmatch(r"[0-9a-f]{32}", value), value


def test_authorize_endpoint_loads_its_client_class_and_checks_redirect_uri_with_in():
    assert AuthorizeEndpoint.client_class is OIDCClient
    source = inspect.getsource(AuthorizeEndpoint.validate_params)
    assert "self.client_class.objects.get(client_id=" in source
    assert 'self.params["redirect_uri"] not in self.client.redirect_uris' in source


def test_scope_claims_describe_scopes_by_name_and_description():
    info = ScopeDescriptions.get_scopes_info(["email", "openid"])
    assert [(item["scope"], bool(item["name"]), bool(item["description"])) for item in info] == [
        ("email", True, True)
    ]


def test_authorize_view_builds_its_endpoint_through_authorize_endpoint_class():
    for method in (views.AuthorizeView.get, views.AuthorizeView.post):
        source = inspect.getsource(method)
        assert "self.authorize_endpoint_class(request)" in source
        assert "except AuthorizeError" in source


def test_authorize_error_takes_redirect_uri_error_and_grant_type():
    error = AuthorizeError(REDIRECT_URI, "invalid_scope", "authorization_code")
    assert error.error == "invalid_scope" and error.grant_type == "authorization_code"
    assert error.description == "The requested scope is invalid, unknown, or malformed"
    for code in ("invalid_request", "unauthorized_client", "unsupported_response_type"):
        assert AuthorizeError(REDIRECT_URI, code, "authorization_code").description


def test_client_and_redirect_uri_errors_carry_error_and_description():
    for error in (ClientIdError(), RedirectUriError()):
        assert error.error and error.description


def test_extract_client_auth_reads_basic_then_the_form():
    basic = base64.b64encode(b"id:secret").decode()
    header = requests.post("/", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert extract_client_auth(header) == ("id", "secret")
    form = requests.post("/", {"client_id": "id", "client_secret": "s"})
    assert extract_client_auth(form) == ("id", "s")
    assert extract_client_auth(requests.post("/")) == ("", "")


def test_create_token_returns_an_unsaved_token_with_fresh_values(public_client):
    token = create_token(user=None, client=public_client, scope=["openid"])
    assert token.pk is None and token.client == public_client
    assert token.access_token and token.refresh_token and token.expires_at
    assert token.scope == ["openid"]


def test_id_token_helpers_keep_their_signatures():
    assert parameters(create_id_token) == [
        "token",
        "user",
        "aud",
        "nonce",
        "at_hash",
        "request",
        "scope",
    ]
    assert parameters(encode_id_token) == ["payload", "client"]


def test_standard_scope_claims_answer_by_scope(public_client, person):
    token = create_token(user=person, client=public_client, scope=["openid", "email"])
    claims = StandardScopeClaims(token).create_response_dic()
    assert claims["email"] == "bob@example.com"


def test_scope_claims_init_sets_what_scopes_listed_once_sets(public_client, person):
    from oidc_provider.lib.claims import STANDARD_CLAIMS, ScopeClaims

    from apps.idp.claims import StandardClaims

    token = create_token(user=person, client=public_client, scope=["openid", "email"])
    library, ours = ScopeClaims(token), StandardClaims(token)
    assert vars(ours) == vars(library)
    assert ours.userinfo is not library.userinfo
    # Two levels of strings: the two-level copy is a deep one.
    for value in STANDARD_CLAIMS.values():
        inner = value.values() if isinstance(value, dict) else [value]
        assert all(isinstance(item, str) for item in inner)


def test_scope_claims_list_their_scope_methods_for_create_response_dic(public_client, person):
    token = create_token(user=person, client=public_client, scope=["openid", "email"])
    listed = StandardScopeClaims(token)._scopes_registered()
    assert {"profile", "email", "phone", "address"} <= set(listed)
    assert "_scopes_registered" in inspect.getsource(StandardScopeClaims.create_response_dic)


def test_library_settings_have_defaults_and_import_hooks_by_dotted_path():
    assert library_settings.default_settings.OIDC_IDTOKEN_EXPIRE == 600
    generator = library_settings.default_settings.OIDC_IDTOKEN_SUB_GENERATOR
    assert library_settings.import_from_str(generator).__name__ == "default_sub_generator"


def test_library_settings_get_imports_on_request():
    from apps.idp.claims import ScopeDescriptions

    name = library_settings.get("OIDC_EXTRA_SCOPE_CLAIMS")
    assert name == "apps.idp.claims.ScopeDescriptions"
    assert library_settings.get("OIDC_EXTRA_SCOPE_CLAIMS", import_str=True) is ScopeDescriptions


def test_provider_info_view_builds_through_its_underscore_methods():
    assert parameters(views.ProviderInfoView._build_response_dict) == ["self", "request"]
    assert parameters(views.ProviderInfoView._build_cache_key) == ["self", "request"]
    source = inspect.getsource(views.ProviderInfoView.get)
    assert "self._build_cache_key(request)" in source
    assert "self._build_response_dict(request)" in source


def test_introspection_view_answers_through_its_endpoint_class_response():
    response = views.TokenIntrospectionView.token_instrospection_endpoint_class.response(
        {"active": False}
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"


def test_end_session_view_logout_user_takes_our_keywords():
    assert parameters(views.EndSessionView.logout_user) == [
        "request",
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
        "client",
        "next_page",
    ]


def test_token_keeps_scope_and_id_token_in_underscore_columns():
    assert Token._meta.get_field("_scope").get_internal_type() == "TextField"
    assert Token._meta.get_field("_id_token").get_internal_type() == "TextField"
    token = Token(_scope="openid email")
    assert token.scope == ["openid", "email"]


def test_code_has_the_columns_the_exchange_reads():
    for name in ("code", "client", "user", "_scope", "nonce", "is_authentication"):
        Code._meta.get_field(name)
    for name in ("code_challenge", "code_challenge_method"):
        Code._meta.get_field(name)
    assert callable(Code.has_expired)


def test_rsa_key_kid_is_the_md5_of_its_pem():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nnot parsed\n-----END RSA PRIVATE KEY-----\n"
    assert RSAKey(key=pem).kid == hashlib.md5(pem.encode()).hexdigest()  # noqa: S324
