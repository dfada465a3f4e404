"""apps.idp.grants: the registry the token endpoint serves, and a refusal's consequence."""

from functools import partial

from oidc_provider.models import Client

from apps.idp import grants
from apps.idp.errors import InvalidGrant
from apps.idp.grants.common import authenticate_client
from tests.idp.oauth import CLIENT_ID


def token_request(idp, **form):
    return idp.post("/oidc/token", {"client_id": CLIENT_ID, **form})


def new_client(client_id: str) -> None:
    Client.objects.create(name=client_id, client_id=client_id, client_type="public")


def test_discovery_names_exactly_the_registered_grants(idp):
    document = idp.get("/oidc/.well-known/openid-configuration").json()
    assert document["grant_types_supported"] == list(grants.REGISTRY)
    assert "password" not in grants.REGISTRY  # RFC 9700 §2.4


def test_a_registered_grant_is_served(idp, public_client, monkeypatch):
    def handle(request):
        authenticate_client(request.http)
        raise InvalidGrant("served by the test grant")

    monkeypatch.setitem(grants.REGISTRY, "urn:test:grant", handle)
    answer = token_request(idp, grant_type="urn:test:grant")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "served by the test grant",
    }


def test_a_refusal_rolls_back_the_request_but_commits_its_consequence(
    idp, public_client, monkeypatch
):
    def handle(request):
        new_client("written-by-the-refused-request")
        raise InvalidGrant("refused", consequence=partial(new_client, "the-consequence"))

    monkeypatch.setitem(grants.REGISTRY, "urn:test:grant", handle)
    answer = token_request(idp, grant_type="urn:test:grant")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert answer["Cache-Control"] == "no-store" and answer["Pragma"] == "no-cache"
    assert not Client.objects.filter(client_id="written-by-the-refused-request").exists()
    assert Client.objects.filter(client_id="the-consequence").exists()


def test_an_unknown_grant_type_is_refused_after_client_authentication(idp, public_client):
    assert token_request(idp, grant_type="password").json()["error"] == "unsupported_grant_type"
    answer = token_request(idp, grant_type="password", client_id="nobody")
    assert answer.status_code == 401 and answer["WWW-Authenticate"] == 'Basic realm="oidc"'
