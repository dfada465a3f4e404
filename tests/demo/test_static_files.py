"""whitenoise says nothing about the missing staticfiles/ before collectstatic, and does after."""

import warnings

import pytest

from config.static_files import StaticFilesMiddleware
from tests.demo.test_runserver import demo_env, manage


def build_middleware() -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        StaticFilesMiddleware(lambda request: None)
    return [str(warning.message) for warning in caught]


def test_before_collectstatic_no_warning_about_static_root(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "staticfiles"  # not collected yet
    settings.WHITENOISE_USE_FINDERS = True
    assert build_middleware() == []


def test_under_make_serve_a_missing_static_root_still_warns(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.WHITENOISE_USE_FINDERS = False  # DJANGO_STATIC_COLLECTED=1
    assert [m for m in build_middleware() if m.startswith("No directory at:")]


@pytest.mark.integration
def test_no_command_warns_about_staticfiles_before_collectstatic(tmp_path):
    """A newcomer's first commands print no whitenoise warning about a missing STATIC_ROOT."""
    env = demo_env(tmp_path)
    check = manage("check", env=env)
    assert check.returncode == 0, check.stderr
    assert "No directory at" not in check.stderr
    # the WSGI app is what builds whitenoise's middleware: every server command loads it
    loaded = manage("shell", "-c", "from config.wsgi import application", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "No directory at" not in loaded.stderr
