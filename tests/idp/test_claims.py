from types import SimpleNamespace

from apps.idp.claims import userinfo


def make_user(**fields):
    values = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    values.update(fields)
    return SimpleNamespace(get_username=lambda: "ada", **values)


def test_userinfo_fills_profile_and_email_claims_from_the_user():
    claims = userinfo({}, make_user())
    assert claims["name"] == "Ada Lovelace"
    assert claims["given_name"] == "Ada"
    assert claims["family_name"] == "Lovelace"
    assert claims["preferred_username"] == "ada"
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is False  # nobody confirmed the address by mail


def test_userinfo_without_email_claims_no_verification():
    claims = userinfo({}, make_user(email="", last_name=""))
    assert claims["name"] == "Ada"
    assert claims["email_verified"] is None  # dropped by the library, like other empty claims


def test_scope_methods_listed_once_answer_as_the_librarys(public_client, person):
    from oidc_provider.lib.claims import StandardScopeClaims
    from oidc_provider.lib.utils.token import create_token

    from apps.idp.claims import ScopeDescriptions, StandardClaims

    token = create_token(
        user=person, client=public_client, scope=["openid", "profile", "email", "offline_access"]
    )
    for _ in range(2):  # the second call answers from the list kept
        assert StandardClaims(token).create_response_dic() == (
            StandardScopeClaims(token).create_response_dic()
        )
    # Listed per class: each keeps its own scopes.
    assert ScopeDescriptions(token)._scopes_registered() == ("offline_access",)
    assert "email" in StandardClaims(token)._scopes_registered()
    assert "offline_access" not in StandardClaims(token)._scopes_registered()
