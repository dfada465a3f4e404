"""Resource discovery: each fetched document is checked before it is believed. No network."""

import pytest

from apps.client import resource_discovery as rd
from apps.client.authorization import RelyingParty
from apps.client.errors import ClientAbort
from apps.client.store import FileStore, StoredRegistration
from tests.client.stubs import StubHTTP, response
from tests.client.terminals import RecordingTerminal

API = "https://api.example/api/profile"
PRM = "https://api.example/.well-known/oauth-protected-resource/api/profile"
ISSUER = "https://idp.example/oidc"
ASM = "https://idp.example/.well-known/oauth-authorization-server/oidc"
REGISTER = "https://idp.example/oidc/register"
MANAGE = "https://idp.example/oidc/register/cid"
RP = RelyingParty(client_id="", redirect_uri="https://api.example/")


def challenge(metadata_url: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer resource_metadata="{metadata_url}"'}


def resource_doc(resource: str = API, servers: tuple[str, ...] = (ISSUER,)) -> dict:
    return {"resource": resource, "authorization_servers": list(servers)}


def answers(overrides: dict | None = None) -> dict:
    base = {
        ("GET", API): response(401, {}, headers=challenge(PRM)),
        ("GET", PRM): response(200, resource_doc()),
        ("GET", ASM): response(200, {"issuer": ISSUER, "registration_endpoint": REGISTER}),
        ("POST", REGISTER): response(
            201,
            {
                "client_id": "cid",
                "registration_access_token": "rat",
                "registration_client_uri": MANAGE,
            },
        ),
        ("GET", MANAGE): response(200, {"client_id": "cid", "registration_access_token": "new"}),
    }
    base.update(overrides or {})
    return base


def discover(http, store=None):
    terminal = RecordingTerminal()
    found = rd.discover_and_register(http, API, RP, terminal, store=store)
    return found, terminal.stdout_text()


def test_the_chain_ends_with_a_client_registered_for_the_api():
    http = StubHTTP(answers())
    found, out = discover(http)
    assert (found.issuer, found.rp.client_id, found.rp.resource) == (ISSUER, "cid", API)
    assert found.kept is False
    sent = next(call for call in http.calls if call[:2] == ("POST", REGISTER))[2]["json"]
    assert sent["token_endpoint_auth_method"] == "none"
    assert sent["redirect_uris"] == ["https://api.example/", "http://127.0.0.1/callback"]
    assert len(out.strip().splitlines()) == 4  # one line per step


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({("GET", API): response(200, {})}, "answered HTTP 200 without a token"),
        ({("GET", API): response(401, {})}, "names no resource_metadata"),
        ({("GET", API): response(401, {}, headers=challenge("http://x/m"))}, "not an https URL"),
        (
            {("GET", PRM): response(200, resource_doc("https://evil.example/api"))},
            "not for 'https://api.example/api/profile'",
        ),
        (
            {("GET", PRM): response(200, resource_doc(servers=("http://idp.example/oidc",)))},
            "not an https URL",
        ),
        ({("GET", PRM): response(200, resource_doc(servers=()))}, "names no authorization server"),
        (
            {("GET", ASM): response(200, {"issuer": "https://evil.example/oidc"})},
            "names issuer 'https://evil.example/oidc'",
        ),
        ({("GET", ASM): response(200, {"issuer": ISSUER})}, "offers no dynamic client"),
        (
            {("POST", REGISTER): response(400, {"error": "invalid_redirect_uri"})},
            "invalid_redirect_uri",
        ),
    ],
)
def test_a_document_that_does_not_vouch_stops_the_client(overrides, message):
    with pytest.raises(ClientAbort, match=message) as stopped:
        discover(StubHTTP(answers(overrides)))
    assert str(stopped.value).startswith(f"Discovery from {API} stopped: ")


def test_the_api_address_must_be_https():
    with pytest.raises(ClientAbort, match="not an https URL"):
        rd.discover_and_register(
            StubHTTP({}), "http://api.example/x", RP, RecordingTerminal(), store=None
        )


def test_rfc_8414_inserts_the_well_known_prefix_before_the_issuers_path():
    assert rd.authorization_server_metadata_url(ISSUER) == ASM
    assert rd.authorization_server_metadata_url("https://idp.example") == (
        "https://idp.example/.well-known/oauth-authorization-server"
    )


def test_a_kept_registration_is_read_back_and_used_again(tmp_path):
    store = FileStore(tmp_path / "grants.json")
    http = StubHTTP(answers())
    first, _ = discover(http, store)
    assert first.kept and store.load_registration(ISSUER).client_id == "cid"
    second, out = discover(http, store)
    assert second.rp.client_id == "cid" and "before" in out
    assert http.count("POST", REGISTER) == 1
    assert http.calls[-1][2]["headers"] == {"Authorization": "Bearer rat"}  # RFC 7592 read
    assert store.load_registration(ISSUER).registration_access_token == "new"  # replaced


def test_a_registration_gone_at_the_idp_is_replaced(tmp_path):
    store = FileStore(tmp_path / "grants.json")
    store.save_registration(StoredRegistration(ISSUER, "old", MANAGE, "old-token"))
    http = StubHTTP(answers({("GET", MANAGE): response(401, {"error": "invalid_token"})}))
    found, out = discover(http, store)
    assert found.rp.client_id == "cid" and "registering again" in out
    assert store.load_registration(ISSUER).registration_access_token == "rat"
