"""The seed's manual steps never run creatersakey: migrate must leave the signing keys."""

import subprocess
import sys

from django.conf import settings

COUNT_KEYS = (
    "import django; django.setup(); from oidc_provider.models import RSAKey; "
    "from apps.idp.models import ECKey; print(RSAKey.objects.count(), ECKey.objects.count())"
)


def _run(database, *args: str) -> str:
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    done = subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_migrate_on_a_new_database_creates_one_signing_key_of_each_kind(tmp_path):
    database = tmp_path / "fresh.sqlite3"
    for _ in range(2):  # a second migrate applies nothing and adds no key
        _run(database, "manage.py", "migrate", "--verbosity", "0")
    assert _run(database, "-c", COUNT_KEYS) == "1 1"  # one RSA (RS256), one EC (ES256)


def test_a_database_migrated_before_es256_gets_its_ec_key_from_the_new_migration(tmp_path):
    database = tmp_path / "older.sqlite3"
    _run(database, "manage.py", "migrate", "idp", "0001", "--verbosity", "0")
    _run(database, "manage.py", "migrate", "--verbosity", "0")
    assert _run(database, "-c", COUNT_KEYS) == "1 1"
