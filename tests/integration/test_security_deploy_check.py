"""`manage.py check --deploy` is clean with production settings (in a clean interpreter)."""

import os
import secrets
import subprocess
import sys

from django.conf import settings

OURS = ("DJANGO_", "OIDC_", "RECEIVER_", "PKCE_", "DATABASE_URL")
PRODUCTION = {
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_HSTS_PRELOAD": "1",
    "DJANGO_HSTS_SECONDS": "31536000",
}


def deploy_check(**env: str) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if not name.startswith(OURS)}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=clean,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = deploy_check(DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_local_secret_key():
    result = deploy_check(**PRODUCTION)
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout
