"""Fixtures of tests/config: the redaction test runs a whole flow against the IdP."""

from tests.idp.oauth import idp, person, public_client, signing_key_pem  # noqa: F401
