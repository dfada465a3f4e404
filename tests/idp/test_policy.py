"""The IdP's protocol rules as plain functions: no request, no database."""

from urllib.parse import parse_qs, urlsplit

from apps.idp import policy

ISSUER = "https://idp.local:8443/oidc"
REDIRECT_URI = "https://mysrv.local:8444/"


def test_s256_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert policy.s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert policy.verifier_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


def test_verifiers_outside_rfc_7636_section_4_1_never_match():
    for verifier in ("short", "x" * 129, "a" * 42 + "!", ""):
        assert not policy.verifier_matches(verifier, policy.s256("a" * 43))


def test_only_43_character_base64url_challenges_are_s256():
    assert policy.is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not policy.is_s256_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM=")
    assert not policy.is_s256_challenge("plain-verifier-that-is-long-enough-to-pass-43")


def test_client_scopes_limit_what_is_granted_and_unknown_ones_are_dropped():
    granted = policy.grantable_scopes(
        ["openid", "email", "phone", "profile", "email"], ["openid", "email"]
    )
    assert granted == ["openid", "email"]


def test_a_client_without_scopes_may_get_every_supported_scope():
    requested = ["openid", "profile", "email", "offline_access", "address", "admin"]
    assert policy.grantable_scopes(requested, []) == list(policy.SUPPORTED_SCOPES)


def test_openid_is_always_allowed_and_unsupported_admin_scopes_are_not():
    assert policy.allowed_scopes(["email", "phone"]) == {"openid", "email"}


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_success_redirect_gets_iss():
    location = f"{REDIRECT_URI}?code=abc&state=xyz"
    assert query_of(policy.authorization_success_redirect(location, ISSUER)) == {
        "code": ["abc"],
        "state": ["xyz"],
        "iss": [ISSUER],
    }


def test_error_redirect_is_rebuilt_so_state_cannot_inject_parameters():
    state = "s&iss=https://evil.test&code=stolen"
    rebuilt = policy.authorization_error_redirect(
        REDIRECT_URI, ISSUER, "access_denied", "No", state
    )
    assert query_of(rebuilt) == {
        "error": ["access_denied"],
        "error_description": ["No"],
        "state": [state],
        "iss": [ISSUER],
    }


def test_redirect_uri_query_is_kept_on_errors():
    registered = "https://mysrv.local:8444/cb?tenant=1"
    rebuilt = policy.authorization_error_redirect(registered, ISSUER, "invalid_request", None, "")
    assert query_of(rebuilt) == {
        "tenant": ["1"],
        "error": ["invalid_request"],
        "iss": [ISSUER],
    }


def test_same_endpoint_ignores_the_query_only():
    assert policy.same_endpoint(f"{REDIRECT_URI}?code=1", REDIRECT_URI)
    assert not policy.same_endpoint("https://mysrv.local:8444/other?code=1", REDIRECT_URI)
    assert not policy.same_endpoint("/accounts/login/?next=/oidc/authorize", REDIRECT_URI)


def test_opaque_values_are_vchar_only():
    assert policy.is_opaque_value("0123456789abcdef0123456789abcdef")
    for bad in ("", "a\x00b", "with space", "é", "x" * 256):
        assert not policy.is_opaque_value(bad)
