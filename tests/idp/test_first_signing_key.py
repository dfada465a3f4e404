"""The seed's manual steps never run creatersakey: migrate must leave a signing key."""

import subprocess
import sys

from django.conf import settings


def test_migrate_on_a_new_database_creates_one_signing_key(tmp_path):
    database = tmp_path / "fresh.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{database}", "PATH": "/usr/bin:/bin"}
    count_keys = (
        "import django; django.setup(); from oidc_provider.models import RSAKey; "
        "print(RSAKey.objects.count())"
    )
    for _ in range(2):  # a second migrate applies nothing and adds no key
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=settings.BASE_DIR,
            env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
            check=True,
        )
    keys = subprocess.run(
        [sys.executable, "-c", count_keys],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert keys.stdout.strip() == "1"
