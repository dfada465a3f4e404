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


def test_a_neighbours_failures_do_not_lock_out_a_browser_that_signed_in_before(
    idp, person, settings, client
):
    person.set_password("right")
    person.save()
    assert sign_in(idp, person.username, "right").status_code == 302  # gets the device cookie
    cookie = idp.cookies["idp_device"]
    assert cookie["httponly"] and cookie["secure"]
    neighbour = type(idp)(HTTP_HOST=idp.defaults["HTTP_HOST"], **{"wsgi.url_scheme": "https"})
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(neighbour, person.username, "wrong")  # same address, no cookie
    assert sign_in(neighbour, person.username, "right").status_code == 429  # still locked
    idp.logout()
    idp.cookies["idp_device"] = cookie.value
    assert sign_in(idp, person.username, "right").status_code == 302  # the person is not


def test_the_device_cookie_has_its_own_limit_and_names_one_account(
    idp, person, settings, django_user_model
):
    person.set_password("right")
    person.save()
    sign_in(idp, person.username, "right")
    cookie = idp.cookies["idp_device"].value
    idp.logout()
    idp.cookies["idp_device"] = cookie
    answers = [sign_in(idp, person.username, "wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert all(answer.status_code == 200 for answer in answers)  # not the shared lock
    more = [sign_in(idp, person.username, "wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert more[-1].status_code == 429  # the device spent its own failures: locked again
    django_user_model.objects.create_user(username="carol", password="carols")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(idp, "carol", "wrong")  # the cookie names `person`, not carol
    assert sign_in(idp, "carol", "carols").status_code == 429


def test_a_forged_device_cookie_counts_for_nothing(idp, person, locked):
    person.set_password("right")
    person.save()
    idp.cookies["idp_device"] = "forged"
    assert sign_in(idp, person.username, "right").status_code == 429


def sign_in_via(idp, username, password, forwarded_for):
    return idp.post(
        LOGIN,
        {"username": username, "password": password},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(idp, person, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    person.set_password("right")
    person.save()
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in_via(idp, person.username, "wrong", f"198.51.100.{n}")  # a new address each time
    assert sign_in_via(idp, person.username, "right", "192.0.2.1").status_code == 429


def test_with_a_trusted_proxy_its_x_forwarded_for_entry_is_the_address(idp, person, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    person.set_password("right")
    person.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        # the client prepends a forged entry; the proxy appends the real peer, 203.0.113.7
        sign_in_via(idp, person.username, "wrong", "192.0.2.99, 203.0.113.7")
    assert sign_in_via(idp, person.username, "right", "203.0.113.7").status_code == 429
    assert sign_in_via(idp, person.username, "right", "198.51.100.9").status_code == 302
