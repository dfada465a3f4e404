"""The client is a third party: it talks to the IdP over HTTPS only, never through its code."""

import ast
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[2] / "apps" / "client"
# The IdP's code, its library and the database are off limits to every client module.
FORBIDDEN = ("oidc_provider", "apps.idp", "apps.receiver", "django.db", "django.contrib.auth")
# The protocol modules, and the client's run below the command, are plain Python: no Django
# at all, settings included. Only apps.py and the command (the edge) may import it.
PURE_MODULES = (
    "pkce.py",
    "oidc.py",
    "schedule.py",
    "text.py",
    "errors.py",
    "transport.py",
    "discovery.py",
    "authorization.py",
    "tokens.py",
    "id_token.py",
    "session.py",
    "signin.py",
    "refresh_loop.py",
    "run.py",
    "terminal.py",
    "signals.py",
    "loopback.py",
    "store.py",
    "device.py",
    "resource_discovery.py",
    "dpop.py",
    "resource.py",
)
DJANGO_EDGES = ("apps.py", "pkce_client.py")


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a source file imports, relative imports resolved against `package`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return found


def offending(modules: set[str], prefixes: tuple[str, ...]) -> set[str]:
    return {
        name for name in modules if any(name == p or name.startswith(f"{p}.") for p in prefixes)
    }


def client_sources() -> list[Path]:
    return sorted(CLIENT_DIR.rglob("*.py"))


def package_of(path: Path) -> str:
    parts = path.relative_to(CLIENT_DIR.parents[1]).with_suffix("").parts
    return ".".join(parts[:-1])


def test_the_scan_sees_every_client_module():
    names = {path.name for path in client_sources()}
    assert {"oidc.py", "pkce.py", "schedule.py", "pkce_client.py"} <= names


def test_every_client_module_is_pure_or_a_named_edge():
    names = {path.name for path in client_sources() if path.name != "__init__.py"}
    assert names == set(PURE_MODULES) | set(DJANGO_EDGES)


@pytest.mark.parametrize("path", client_sources(), ids=lambda path: path.name)
def test_no_client_module_imports_the_idp_or_the_database(path):
    modules = imported_modules(path.read_text(), package_of(path))
    assert offending(modules, FORBIDDEN) == set()


@pytest.mark.parametrize("name", PURE_MODULES)
def test_protocol_modules_import_no_django(name):
    path = CLIENT_DIR / name
    assert offending(imported_modules(path.read_text(), "apps.client"), ("django",)) == set()


@pytest.mark.parametrize(
    "source",
    [
        "import oidc_provider.models",
        "from oidc_provider.models import Token",
        "from apps.idp import services",
        "from ..idp import services",
        "from django.db import connection",
        "import importlib; importlib.import_module('apps.idp.services')",
    ],
)
def test_the_scan_catches_each_way_of_importing(source):
    assert offending(imported_modules(source, "apps.client"), FORBIDDEN)
