"""/api/profile with DPoP (RFC 9449 §7): proofs made by the client's own apps.client.dpop,
introspection stubbed with what the IdP answers for a bound token (cnf.jkt)."""

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from apps.client.dpop import DPoPKey
from apps.receiver import api, introspection, replay
from apps.receiver.models import ResourceProofUse
from tests.receiver.test_api import challenges

API_URL = "https://mysrv.local:8444/api/profile"
TOKEN = "dpop.bound-access-token"


@pytest.fixture
def idp_says(settings, monkeypatch):
    """`idp_says(jkt=...)`: what introspection answers for every token from now on."""
    settings.RECEIVER_URL = "https://mysrv.local:8444/"
    settings.RESOURCE_SERVER_SECRET = "stub"
    settings.RESOURCE_SERVER_CACHE_SECONDS = 0
    asked: list[str] = []

    def answer(jkt: str | None = None, active: bool = True) -> list[str]:
        token = introspection.ActiveToken(
            sub="7", scope=("openid", "profile"), client_id="cli-1", exp=None, jkt=jkt
        )

        def ask(value: str, secret: str):
            asked.append(value)
            return token if active else None

        monkeypatch.setattr(api, "_ask_idp", ask)
        return asked

    return answer


def call(client, *, scheme="DPoP", token=TOKEN, proof=None, **headers):
    extra = {"HTTP_AUTHORIZATION": f"{scheme} {token}", **headers}
    if proof is not None:
        extra["HTTP_DPOP"] = proof
    return client.get("/api/profile", HTTP_HOST="mysrv.local:8444", secure=True, **extra)


def dpop_error(answer) -> tuple[str, str]:
    params = challenges(answer)["DPoP"]
    assert params["algs"] == "ES256 PS256 RS256 EdDSA"
    return params["error"], params["error_description"]


@pytest.mark.django_db
def test_a_bound_token_with_a_proof_of_its_key_reads_the_profile(client, idp_says):
    key = DPoPKey.generate()
    idp_says(jkt=key.thumbprint)
    answer = call(client, proof=key.proof("GET", API_URL, access_token=TOKEN))
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"sub": "7", "scope": ["openid", "profile"], "client_id": "cli-1"}


@pytest.mark.django_db
def test_a_replayed_proof_is_refused(client, idp_says):
    key = DPoPKey.generate()
    idp_says(jkt=key.thumbprint)
    proof = key.proof("GET", API_URL, access_token=TOKEN)
    assert call(client, proof=proof).status_code == 200
    again = call(client, proof=proof)
    assert again.status_code == 401
    assert dpop_error(again) == (
        "invalid_dpop_proof",
        "this proof was used before (its jti is known)",
    )


@pytest.mark.django_db
def test_a_bound_token_sent_as_bearer_is_refused(client, idp_says):
    key = DPoPKey.generate()
    asked = idp_says(jkt=key.thumbprint)
    answer = call(client, scheme="Bearer")
    assert answer.status_code == 401
    assert dpop_error(answer)[0] == "invalid_token"
    assert "DPoP-bound" in answer.json()["error_description"]
    assert asked == [TOKEN]  # refused on what the IdP said, not on the token's looks


@pytest.mark.django_db
def test_a_proof_of_another_key_is_refused(client, idp_says):
    idp_says(jkt=DPoPKey.generate().thumbprint)
    thief = DPoPKey.generate()
    answer = call(client, proof=thief.proof("GET", API_URL, access_token=TOKEN))
    assert answer.status_code == 401
    assert dpop_error(answer)[0] == "invalid_dpop_proof"
    assert "another key" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("method", "url", "access_token", "reason"),
    [
        ("GET", API_URL, None, "ath does not match"),  # no ath at all
        ("GET", API_URL, "another-token", "ath does not match"),
        ("POST", API_URL, TOKEN, "htm"),
        ("GET", "https://mysrv.local:8444/api/other", TOKEN, "htu"),
        ("GET", "https://idp.local:8443/api/profile", TOKEN, "htu"),
    ],
)
@pytest.mark.django_db
def test_a_proof_for_another_request_is_refused_before_the_idp_is_asked(
    client, idp_says, method, url, access_token, reason
):
    key = DPoPKey.generate()
    asked = idp_says(jkt=key.thumbprint)
    answer = call(client, proof=key.proof(method, url, access_token=access_token))
    assert answer.status_code == 401
    error, description = dpop_error(answer)
    assert error == "invalid_dpop_proof" and reason in description
    assert asked == []


@pytest.mark.django_db
def test_an_old_proof_is_refused(client, idp_says):
    key = DPoPKey.generate(clock=lambda: timezone.now().timestamp() - 600)
    idp_says(jkt=key.thumbprint)
    answer = call(client, proof=key.proof("GET", API_URL, access_token=TOKEN))
    assert dpop_error(answer) == ("invalid_dpop_proof", "the proof is too old")


@pytest.mark.django_db
def test_without_a_proof_or_with_two_the_dpop_scheme_is_refused(client, idp_says):
    key = DPoPKey.generate()
    idp_says(jkt=key.thumbprint)
    assert dpop_error(call(client))[0] == "invalid_dpop_proof"
    two = ", ".join(key.proof("GET", API_URL, access_token=TOKEN) for _ in range(2))
    answer = call(client, proof=two)
    assert dpop_error(answer) == (
        "invalid_dpop_proof",
        "send exactly one DPoP header with the request",
    )


@pytest.mark.django_db
def test_an_unbound_token_works_as_bearer_and_not_as_dpop(client, idp_says):
    idp_says(jkt=None)
    assert call(client, scheme="Bearer").status_code == 200
    key = DPoPKey.generate()
    answer = call(client, proof=key.proof("GET", API_URL, access_token=TOKEN))
    assert answer.status_code == 401
    assert dpop_error(answer)[0] == "invalid_token"
    assert "not DPoP-bound" in answer.json()["error_description"]


@pytest.mark.django_db
def test_an_inactive_token_with_a_good_proof_is_invalid_token(client, idp_says):
    key = DPoPKey.generate()
    idp_says(active=False)
    answer = call(client, proof=key.proof("GET", API_URL, access_token=TOKEN))
    assert answer.status_code == 401
    assert dpop_error(answer)[0] == "invalid_token"


def test_introspection_that_says_dpop_without_a_key_is_no_answer():
    answer = {"active": True, "sub": "7", "client_id": "c", "scope": "openid"}
    with pytest.raises(introspection.IntrospectionError, match="jkt"):
        introspection._active_token({**answer, "token_type": "DPoP"})
    with pytest.raises(introspection.IntrospectionError, match="jkt"):
        introspection._active_token({**answer, "cnf": {"x5t#S256": "abc"}})
    bound = introspection._active_token({**answer, "token_type": "DPoP", "cnf": {"jkt": "k"}})
    assert bound is not None and bound.jkt == "k"
    assert introspection._active_token(answer).jkt is None


JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def later(seconds: int = 70):
    return timezone.now() + timedelta(seconds=seconds)


@pytest.mark.postgres
@pytest.mark.django_db
def test_expired_uses_go_as_new_ones_arrive(monkeypatch):
    monkeypatch.setattr(replay, "PURGE_EVERY", 1)
    assert replay.remember_proof(JKT, "old", timezone.now() - timedelta(seconds=1), now=later(0))
    assert replay.remember_proof(JKT, "current", later(), now=timezone.now())
    assert list(ResourceProofUse.objects.values_list("jti", flat=True)) == ["current"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_presentations_of_one_proof_at_the_api_are_accepted_exactly_once():
    parallel = 8
    start = threading.Barrier(parallel)
    results: list[bool] = []
    errors: list[BaseException] = []

    def present() -> None:
        try:
            start.wait(timeout=10)
            results.append(replay.remember_proof(JKT, "raced", later(), now=timezone.now()))
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=present) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False] * (parallel - 1) + [True]


@pytest.mark.django_db
def test_without_its_database_the_api_answers_503_not_500(client, idp_says, monkeypatch):
    key = DPoPKey.generate()
    idp_says(jkt=key.thumbprint)

    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(replay, "remember_proof", unreachable)
    answer = call(client, proof=key.proof("GET", API_URL, access_token=TOKEN))
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer["Retry-After"] == "5"
