"""The resource server talks to the IdP over HTTPS (introspection); of its code it reuses only
the pure DPoP proof checks, never the IdP's models, services or endpoints."""

from pathlib import Path

import pytest

from tests.client.test_boundaries import imported_modules, offending, package_of

RECEIVER_DIR = Path(__file__).resolve().parents[2] / "apps" / "receiver"
ALLOWED_FROM_IDP = {"apps.idp", "apps.idp.dpop"}  # `from apps.idp import dpop` names both


def receiver_sources() -> list[Path]:
    return sorted(RECEIVER_DIR.rglob("*.py"))


@pytest.mark.parametrize("path", receiver_sources(), ids=lambda path: path.name)
def test_the_receiver_takes_only_the_pure_proof_checks_from_the_idp(path):
    modules = imported_modules(path.read_text(), package_of(path))
    assert offending(modules, ("apps.idp", "oidc_provider", "apps.client")) <= ALLOWED_FROM_IDP


def test_the_proof_checks_it_takes_import_no_django():
    source = (RECEIVER_DIR.parent / "idp" / "dpop.py").read_text()
    assert offending(imported_modules(source, "apps.idp"), ("django", "apps")) == set()


def test_the_scan_sees_what_the_api_imports():
    modules = imported_modules((RECEIVER_DIR / "api.py").read_text(), "apps.receiver")
    assert "apps.idp.dpop" in modules
