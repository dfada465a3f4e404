"""RFC 8414 authorization server metadata: the OpenID discovery document, at both addresses."""

import pytest

from tests.idp.oauth import ISSUER

PATHS = ("/.well-known/oauth-authorization-server/oidc", "/.well-known/oauth-authorization-server")


@pytest.mark.parametrize("path", PATHS)
def test_the_metadata_is_the_discovery_document(idp, path):
    discovery = idp.get("/oidc/.well-known/openid-configuration").json()
    metadata = idp.get(path)
    assert metadata.status_code == 200
    assert metadata.json() == discovery
    assert metadata.json()["issuer"] == ISSUER  # RFC 8414 §3.3: what a client checks


def test_registration_and_resource_indicators_are_advertised(idp):
    meta = idp.get(PATHS[0]).json()
    assert meta["registration_endpoint"] == "https://idp.local:8443/oidc/register"
    assert meta["resource_indicators_supported"] is True
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert "urn:ietf:params:oauth:grant-type:device_code" in meta["grant_types_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"):
        assert meta[name].startswith(ISSUER + "/")
