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
