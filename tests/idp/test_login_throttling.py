"""django-axes locks an account+address pair after repeated failed sign-ins, readably."""

import pytest

LOGIN = "/accounts/login/"
LOCKED = "Too many failed sign-ins"


def sign_in(idp, username: str, password: str, address: str = "203.0.113.7"):
    return idp.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def locked(idp, person, settings):
    """`person` locked out from 203.0.113.7 after AXES_FAILURE_LIMIT wrong passwords."""
    answers = [sign_in(idp, person.username, "wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]
    return answers


def test_failures_below_the_limit_show_the_usual_message(idp, person, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        page = sign_in(idp, person.username, "wrong")
        assert page.status_code == 200
        assert "enter a correct username and password" in page.content.decode()


def test_the_account_is_locked_with_a_clear_message(idp, person, locked):
    assert locked[-1].status_code == 429
    assert LOCKED in locked[-1].content.decode()
    person.set_password("right")
    person.save()
    page = sign_in(idp, person.username, "right")  # even the right password is refused
    assert page.status_code == 429
    assert LOCKED in page.content.decode()
    assert "_auth_user_id" not in idp.session


def test_the_lock_is_per_account_and_address(idp, person, locked, django_user_model):
    person.set_password("right")
    person.save()
    elsewhere = sign_in(idp, person.username, "right", address="198.51.100.9")
    assert elsewhere.status_code == 302  # the same account from another address
    django_user_model.objects.create_user(username="carol", password="carols")
    other = sign_in(idp, "carol", "carols")  # another account from the same address
    assert other.status_code == 302
