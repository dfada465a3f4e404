"""Only https:// redirect URIs, or http:// to a loopback IP literal, can be registered."""

import pytest

from apps.idp.redirect_uris import RedirectURIError, check_redirect_uri

ACCEPTED = [
    "https://mysrv.local:8444/",
    "https://rp.example/callback?x=1",
    "http://127.0.0.1:8765/callback",
    "http://127.0.0.1/",
    "http://[::1]:8765/callback",
]
REFUSED = [
    "javascript:alert(1)",
    "data:text/html,hi",
    "*",
    "https://*.example/cb",
    "https://rp.example/*",
    "http://rp.example/callback",
    "http://localhost:8765/callback",
    "http://127.0.0.2/",
    "https://rp.example/cb#frag",
    "https://rp.example/cb#",
    "https://user:pw@rp.example/cb",
    "https://user@rp.example/cb",
    "http://127.0.0.1@evil.example/",
    "ftp://rp.example/",
    "com.example.app:/cb",
    "/relative/path",
    "https:///nohost",
    "",
    " https://rp.example/",
    "https://rp.example:notaport/",
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_accepted(uri):
    check_redirect_uri(uri)


@pytest.mark.parametrize("uri", REFUSED)
def test_refused(uri):
    with pytest.raises(RedirectURIError):
        check_redirect_uri(uri)
