"""Fixtures of tests/idp (defined in tests/idp/oauth.py with the helpers that use them)."""

from tests.idp.oauth import idp, person, public_client, signing_key_pem  # noqa: F401
