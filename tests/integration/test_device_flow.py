"""The device authorization grant (RFC 8628) over real HTTPS: a poller, and a person with
`requests` (sign-in, the /device page, consent), as a terminal and a phone would."""

import time

import pytest
import requests

from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def start(https, origins, client_id: str) -> dict:
    meta = https.get(f"{origins.issuer}/.well-known/openid-configuration", timeout=10).json()
    answer = https.post(
        meta["device_authorization_endpoint"],
        data={"client_id": client_id, "scope": "openid profile email offline_access"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.json()


def poll(https, origins, client_id: str, device_code: str):
    return flows.token_request(
        https,
        origins.idp_url,
        grant_type=DEVICE_GRANT,
        device_code=device_code,
        client_id=client_id,
    )


def test_a_device_signs_in_while_a_person_approves_at_device(
    origins, https, seed_client, end_user, settings
):
    settings.OIDC_DEVICE_POLL_INTERVAL = 1  # the servers run in this process: a quick test
    started = start(https, origins, seed_client.client_id)
    assert started["verification_uri"] == f"{origins.idp_url}/device"
    assert started["interval"] == 1

    assert poll(https, origins, seed_client.client_id, started["device_code"]).json()["error"] == (
        "authorization_pending"
    )

    # The person, in another browser: sign in, open verification_uri_complete, allow.
    with requests.Session() as person:
        person.trust_env = False
        person.verify = origins.ca_file
        flows.log_in(person, origins.idp_url, end_user.username, END_USER_PASSWORD)
        entry = person.get(started["verification_uri_complete"], timeout=10)
        assert entry.status_code == 200
        action, fields = flows.form_inputs(entry.text)
        assert fields["user_code"] == started["user_code"]
        headers = {"Referer": entry.url}
        consent = person.post(entry.url, data=fields, headers=headers, timeout=10)
        assert consent.status_code == 200
        assert seed_client.name in consent.text
        for described in ("Your name and username", "Your email address", "Stay connected"):
            assert described in consent.text
        _, fields = flows.form_inputs(consent.text)
        done = person.post(
            entry.url, data={**fields, "decision": "allow"}, headers=headers, timeout=10
        )
        assert "your device is signed in" in done.text

    time.sleep(started["interval"])
    tokens = poll(https, origins, seed_client.client_id, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    assert {"access_token", "id_token", "refresh_token"} <= tokens.json().keys()

    refreshed = flows.refresh(
        https,
        origins.idp_url,
        refresh_token=tokens.json()["refresh_token"],
        client_id=seed_client.client_id,
    )
    assert refreshed.status_code == 200, refreshed.text
    again = poll(https, origins, seed_client.client_id, started["device_code"])
    assert again.json()["error"] == "invalid_grant"  # single use


def test_a_device_polling_too_fast_is_told_to_slow_down(origins, https, seed_client):
    started = start(https, origins, seed_client.client_id)
    errors = [
        poll(https, origins, seed_client.client_id, started["device_code"]).json()["error"]
        for _ in range(2)
    ]
    assert errors == ["authorization_pending", "slow_down"]
