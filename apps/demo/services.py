"""Database writes of the demo's tooling: the demo end user `prepare_demo` creates."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str | None  # None: the account existed and we left its password alone
    created: bool


def ensure_demo_user(
    username: str, *, email: str, password: str | None, fallback_password: str
) -> DemoUser:
    """Create the demo end user (a superuser, so it can also sign in to the admin).

    `password` (from DJANGO_SUPERUSER_PASSWORD) is applied whenever given. Without it a
    new account gets `fallback_password`, and an existing one keeps whatever it has,
    unless that still is the fallback: nothing a person set by hand is overwritten.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user_model.objects.create_superuser(
            username=username,
            email=email,
            password=password or fallback_password,
            first_name="Demo",
            last_name="User",
        )
        return DemoUser(username, password or fallback_password, created=True)
    if password:
        user.set_password(password)
        user.save(update_fields=["password"])
        return DemoUser(username, password, created=False)
    known = fallback_password if user.check_password(fallback_password) else None
    return DemoUser(username, known, created=False)
