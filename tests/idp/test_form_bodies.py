"""Back-channel endpoints read only urlencoded forms (RFC 6749 §3.2) and refuse the rest as
OAuth JSON, never Django's HTML "Bad Request"."""

from urllib.parse import urlencode

import pytest
from django.test import Client

from tests.idp.oauth import IDP_HOST, oauth_error

BACK_CHANNEL = ("/oidc/token", "/oidc/revoke", "/oidc/introspect", "/oidc/userinfo")
FORM = "application/x-www-form-urlencoded"

BODIES = {
    "megabytes": (urlencode({"grant_type": "refresh_token", "x": "a" * 3_000_000}), FORM),
    "over a thousand fields": (urlencode({f"f{n}": "1" for n in range(1200)}), FORM),
    "multipart": (None, "multipart/form-data; boundary=BoUnDaRyStRiNg"),
    "json": ('{"grant_type": "refresh_token"}', "application/json"),
}


@pytest.mark.parametrize("path", BACK_CHANNEL)
@pytest.mark.parametrize("body", BODIES, ids=list(BODIES))
def test_an_unreadable_body_is_an_oauth_error(db, path, body):
    data, content_type = BODIES[body]
    browser = Client(
        HTTP_HOST=IDP_HOST, raise_request_exception=False, **{"wsgi.url_scheme": "https"}
    )
    if data is None:  # the test client's own multipart encoding
        answer = browser.post(path, {"grant_type": "refresh_token", "token": "t"})
    else:
        answer = browser.post(path, data, content_type=content_type)
    assert answer.status_code == 400, answer.content[:200]
    assert oauth_error(answer) == "invalid_request"
