"""Fixtures of tests/idp (defined in tests/idp/oauth.py with the helpers that use them)."""

import pytest

from tests.idp.oauth import FormClient, idp, person, public_client, signing_key_pem  # noqa: F401


@pytest.fixture
def client() -> FormClient:
    """pytest-django's `client`, posting forms urlencoded: the back channel takes no other."""
    return FormClient()
