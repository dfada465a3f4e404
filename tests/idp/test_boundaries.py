"""The IdP stands alone: demo tooling, the client and the receiver build on it, never the reverse.

A deployment of the IdP carries no local CA, /etc/hosts editing or demo user; those live in
apps/demo, which may import apps/idp but not be imported by it.
"""

from pathlib import Path

import pytest
from django.core.management import get_commands

from tests.client.test_boundaries import imported_modules, offending, package_of

IDP_DIR = Path(__file__).resolve().parents[2] / "apps" / "idp"
FORBIDDEN = ("apps.demo", "apps.client", "apps.receiver")


def idp_sources() -> list[Path]:
    return sorted(IDP_DIR.rglob("*.py"))


def test_the_scan_sees_every_idp_module():
    names = {path.name for path in idp_sources()}
    assert {"apps.py", "admin.py", "services.py", "keys.py", "seed_client.py"} <= names


@pytest.mark.parametrize("path", idp_sources(), ids=lambda path: str(path.relative_to(IDP_DIR)))
def test_no_idp_module_imports_the_demo_the_client_or_the_receiver(path):
    modules = imported_modules(path.read_text(), package_of(path))
    assert offending(modules, FORBIDDEN) == set()


@pytest.mark.parametrize(
    "source",
    [
        "from apps.demo import certs",
        "import apps.demo.hosts",
        "from ..demo.services import ensure_demo_user",
        "from apps.client import oidc",
        "from apps import receiver",
        "import importlib; importlib.import_module('apps.demo.certs')",
    ],
)
def test_the_scan_catches_each_way_of_importing(source):
    assert offending(imported_modules(source, "apps.idp"), FORBIDDEN)


def test_the_demo_commands_come_from_apps_demo():
    commands = get_commands()
    assert commands["prepare_demo"] == "apps.demo"
    assert commands["seed_client"] == "apps.idp"
