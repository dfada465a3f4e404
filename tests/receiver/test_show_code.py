import pytest

RECEIVER_HOST = "mysrv.local:8444"
IDP_HOST = "idp.local:8443"


@pytest.fixture
def receiver(client):
    """pytest-django's test client, speaking to the receiver's origin over HTTPS."""
    client.defaults.update(HTTP_HOST=RECEIVER_HOST, **{"wsgi.url_scheme": "https"})
    return client


def test_receiver_shows_the_code_and_state(receiver):
    response = receiver.get("/", {"code": "abc123", "state": "xyz"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="code">abc123<' in page
    assert 'id="state">xyz<' in page
    assert "Paste it into the terminal where <code>pkce_client</code> waits" in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_receiver_shows_an_error_readably(receiver):
    response = receiver.get(
        "/", {"error": "access_denied", "error_description": "The user denied it", "state": "s"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="error">access_denied<' in page
    assert "The user denied it" in page
    assert "Consent was denied" in page


def test_receiver_escapes_what_it_is_given(receiver):
    response = receiver.get("/", {"code": "<script>alert(1)</script>"})
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;" in response.content


def test_receiver_without_a_response_explains_itself(receiver):
    response = receiver.get("/")
    assert response.status_code == 400
    assert b"No authorization response here" in response.content


def test_receiver_sets_no_cookies(receiver):
    response = receiver.get("/", {"code": "abc"})
    assert not response.cookies


@pytest.mark.parametrize("path", ["/admin/", "/oidc/authorize", "/accounts/login/", "/oidc/jwks"])
def test_idp_pages_are_not_found_on_the_receiver_origin(receiver, path):
    assert receiver.get(path).status_code == 404


def test_receiver_page_is_not_found_on_the_idp_origin(client):
    response = client.get("/", {"code": "abc"}, HTTP_HOST=IDP_HOST)
    assert response.status_code == 200  # the IdP's own landing page
    assert b"abc" not in response.content


def test_unknown_origin_is_told_where_the_demo_lives(client, settings):
    settings.ALLOWED_HOSTS = ["elsewhere.test"]
    response = client.get("/", HTTP_HOST="elsewhere.test")
    assert response.status_code == 404
    assert settings.SITE_URL.encode() in response.content
