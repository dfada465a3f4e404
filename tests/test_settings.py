"""Settings come from the environment with safe defaults (checked in a clean interpreter)."""

import json
import os
import subprocess
import sys

from django.conf import settings

SHOW = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'debug': settings.DEBUG, 'issuer': settings.OIDC_ISSUER, "
    "'hosts': settings.ALLOWED_HOSTS, 'engine': settings.DATABASES['default']['ENGINE'], "
    "'db': str(settings.DATABASES['default']['NAME']), 'receiver': settings.RECEIVER_URL}))"
)
OURS = ("DJANGO_", "OIDC_", "RECEIVER_", "PKCE_", "DATABASE_URL")


def settings_under(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        env=clean,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_are_the_seeds_and_safe():
    values = settings_under()
    assert values["debug"] is False
    assert values["issuer"] == "https://idp.local:8443/oidc"
    assert values["receiver"] == "https://mysrv.local:8444/"
    assert values["hosts"] == ["idp.local", "mysrv.local"]
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["db"].endswith("db.sqlite3")


def test_environment_moves_the_demo_to_localhost_and_postgresql():
    values = settings_under(
        OIDC_SITE_URL="https://localhost:8443/",
        RECEIVER_URL="https://127.0.0.1:8444/",
        DATABASE_URL="postgres://idp:secret@127.0.0.1:5433/idp",
        DJANGO_DEBUG="1",
    )
    assert values["issuer"] == "https://localhost:8443/oidc"
    assert values["hosts"] == ["127.0.0.1", "localhost"]
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["debug"] is True


def test_debug_needs_exactly_1():
    assert settings_under(DJANGO_DEBUG="true")["debug"] is False
