"""The token endpoint: code exchange, rotation, reuse detection, lifetimes (RFC 6749, 9700)."""

import base64
import datetime
import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Code, RSAKey, Token

from apps.client import pkce
from apps.idp import keys, policy, services
from apps.idp.grants import refresh_token as refresh_grant
from apps.idp.models import Grant
from tests.idp.oauth import (
    CLIENT_ID,
    REDIRECT_URI,
    authorize,
    exchange,
    oauth_error,
    refresh,
    refresh_statements,
    stored,
    token,
)

OTHER_REDIRECT_URI = "https://mysrv.local:8444/other"


@pytest.fixture
def other_client(db):
    return services.seed_public_client("other-cli", redirect_uri=REDIRECT_URI)


@pytest.fixture
def confidential_client(db):
    oidc_client = OIDCClient.objects.create(
        name="Server-side app",
        client_id="server-app",
        client_secret="s3cret-s3cret-s3cret",
        client_type="confidential",
        jwt_alg="RS256",
        _redirect_uris=REDIRECT_URI,
        _scope="openid profile email offline_access",
    )
    oidc_client.response_types.set([services.response_type("code")])
    return oidc_client


def test_code_exchange_gives_tokens_and_a_refresh_token_for_offline_access(
    idp, public_client, person
):
    answer = exchange(idp, authorize(idp, person))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert {"access_token", "refresh_token", "id_token", "expires_in"} <= body.keys()
    assert body["scope"] == "openid profile email offline_access"
    assert answer["Cache-Control"] == "no-store"


def verify_id_token(idp, id_token: str) -> tuple[dict, dict]:
    """(header, claims) of an ID token checked against the published JWKS, as an RP would."""
    header = jwt.get_unverified_header(id_token)
    published = {key["kid"]: key for key in idp.get("/oidc/jwks").json()["keys"]}
    key = jwt.PyJWK(published[header["kid"]], algorithm=header["alg"])
    claims = jwt.decode(id_token, key, algorithms=[header["alg"]], audience=CLIENT_ID)
    return header, claims


@pytest.mark.postgres
def test_an_es256_client_gets_es256_id_tokens_from_exchange_and_refresh(idp, person):
    services.seed_public_client(CLIENT_ID, redirect_uri=REDIRECT_URI, jwt_alg="ES256")
    first = exchange(idp, authorize(idp, person)).json()
    second = refresh(idp, first["refresh_token"]).json()
    for body in (first, second):
        header, claims = verify_id_token(idp, body["id_token"])
        assert (header["alg"], header["kid"]) == ("ES256", keys.signing_keys("ES256")[0].kid)
        assert claims["sub"] == str(person.pk)
        digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]  # ES256: SHA-256
        assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.postgres
def test_an_rs256_client_still_gets_rs256_id_tokens(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    second = refresh(idp, first["refresh_token"]).json()
    for body in (first, second):
        header, _ = verify_id_token(idp, body["id_token"])
        assert (header["alg"], header["kid"]) == ("RS256", keys.signing_keys("RS256")[0].kid)


def test_no_refresh_token_without_offline_access(idp, public_client, person, monkeypatch):
    made = []  # the refresh value the exchange makes (the library's column is never empty)
    new_refresh_token = policy.new_refresh_token
    monkeypatch.setattr(
        policy, "new_refresh_token", lambda f: made.append(new_refresh_token(f)) or made[-1]
    )
    answer = exchange(idp, authorize(idp, person, scope="openid email"))
    assert answer.status_code == 200
    assert "refresh_token" not in answer.json()
    assert oauth_error(refresh(idp, made[0])) == "invalid_grant"


# --- the negative matrix: exact error, and nothing stored changes where it must not


@dataclass(frozen=True)
class Case:
    name: str
    form: dict[str, Any]  # overrides of a valid request; None drops the parameter
    status: int
    error: str
    refresh: bool = False  # a refresh request (else a code exchange)
    consumed: bool = False  # the code is used up (RFC 7636 §4.6); nothing else changes


CODE_CASES = [
    Case("missing grant_type", {"grant_type": None}, 400, "invalid_request"),
    Case("unknown grant_type", {"grant_type": "magic"}, 400, "unsupported_grant_type"),
    Case("password grant", {"grant_type": "password"}, 400, "unsupported_grant_type"),
    Case("client_credentials", {"grant_type": "client_credentials"}, 400, "unauthorized_client"),
    Case("unknown client", {"client_id": "nobody"}, 401, "invalid_client"),
    Case("missing client_id", {"client_id": None}, 401, "invalid_client"),
    Case("missing code", {"code": None}, 400, "invalid_request"),
    Case("unknown code", {"code": "0" * 32}, 400, "invalid_grant"),
    Case("code with NUL", {"code": "ab\x00cd"}, 400, "invalid_grant"),
    Case("missing redirect_uri", {"redirect_uri": None}, 400, "invalid_request"),
    Case("other redirect_uri", {"redirect_uri": OTHER_REDIRECT_URI}, 400, "invalid_grant"),
    Case("unregistered redirect_uri", {"redirect_uri": "https://evil.test/"}, 400, "invalid_grant"),
    Case("repeated code", {"code": ["a", "b"]}, 400, "invalid_request"),
    Case("code of another client", {"client_id": "other-cli"}, 400, "invalid_grant"),
    Case("no verifier", {"code_verifier": None}, 400, "invalid_grant", consumed=True),
    Case("plain verifier", {"code_verifier": "CHALLENGE"}, 400, "invalid_grant", consumed=True),
]
REFRESH_CASES = [
    Case("missing refresh_token", {"refresh_token": None}, 400, "invalid_request", True),
    Case("unknown refresh_token", {"refresh_token": "f" * 32}, 400, "invalid_grant", True),
    Case("refresh with a code", {"refresh_token": "CODE"}, 400, "invalid_grant", True),
    Case("wider scope", {"scope": "openid phone"}, 400, "invalid_scope", True),
    Case("other client", {"client_id": "other-cli"}, 400, "invalid_grant", True),
    Case(
        "public client_credentials",
        {"grant_type": "client_credentials", "scope": "openid"},
        400,
        "unauthorized_client",
        True,
    ),
]


@pytest.mark.parametrize("case", CODE_CASES + REFRESH_CASES, ids=lambda case: case.name)
def test_refused_requests_change_nothing(idp, public_client, other_client, person, case):
    public_client.redirect_uris = [REDIRECT_URI, OTHER_REDIRECT_URI]
    public_client.save()
    authorized = authorize(idp, person)
    form = dict(case.form)
    if case.refresh:
        tokens = exchange(idp, authorized).json()
        second = authorize(idp, person)  # a live code, to check it survives too
        if form.get("refresh_token") == "CODE":
            form["refresh_token"] = second.code
        before = stored()
        answer = refresh(idp, tokens["refresh_token"], **form)
    else:
        if form.get("code_verifier") == "CHALLENGE":  # the challenge itself, as plain would
            form["code_verifier"] = pkce.s256_challenge(authorized.verifier)
        before = stored()
        answer = exchange(idp, authorized, **form)
    assert answer.status_code == case.status, answer.content
    assert oauth_error(answer) == case.error
    if case.consumed:
        assert not Code.objects.filter(code=authorized.code).exists()
        assert Token.objects.count() == len(before[1])
    else:
        assert stored() == before


def test_an_expired_code_is_refused(idp, public_client, person):
    authorized = authorize(idp, person)
    Code.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    before = stored()
    assert oauth_error(exchange(idp, authorized)) == "invalid_grant"
    assert stored() == before


def test_a_code_lives_60_seconds_by_default(idp, public_client, person):
    authorize(idp, person)
    lifetime = Code.objects.get().expires_at - timezone.now()
    assert datetime.timedelta(seconds=55) < lifetime <= datetime.timedelta(seconds=60)


@pytest.mark.parametrize(
    "verifier",
    ["wrong-" + "v" * 43, None, "short", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"],
    ids=["wrong", "missing", "malformed", "another valid one"],
)
def test_a_wrong_verifier_is_refused_and_consumes_the_code(idp, public_client, person, verifier):
    authorized = authorize(idp, person)
    assert oauth_error(exchange(idp, authorized, code_verifier=verifier)) == "invalid_grant"
    assert not Code.objects.exists()
    # The right verifier is too late now: the code is gone.
    assert oauth_error(exchange(idp, authorized)) == "invalid_grant"
    assert not Token.objects.exists()


@pytest.mark.postgres
def test_a_replayed_code_is_refused_and_revokes_its_tokens(idp, public_client, person):
    authorized = authorize(idp, person)
    first = exchange(idp, authorized).json()
    refreshed = refresh(idp, first["refresh_token"]).json()
    other = exchange(idp, authorize(idp, person)).json()  # another sign-in, not affected

    replay = exchange(idp, authorized)
    assert replay.status_code == 400 and oauth_error(replay) == "invalid_grant"

    left = list(Token.objects.values_list("access_token", flat=True))
    assert left == [policy.token_hash(other["access_token"])]
    assert oauth_error(refresh(idp, refreshed["refresh_token"])) == "invalid_grant"
    assert Grant.objects.filter(revoked_at__isnull=False).count() == 1


def test_a_verifier_for_a_code_issued_without_challenge_is_a_downgrade(
    idp, confidential_client, person
):
    secret = confidential_client.client_secret
    authorized = authorize(
        idp, person, client_id="server-app", code_challenge=None, code_challenge_method=None
    )
    answer = exchange(idp, authorized, client_id="server-app", client_secret=secret)
    assert oauth_error(answer) == "invalid_grant"
    assert not Code.objects.exists()  # consumed
    # Without a verifier the same code would have worked, had it not been consumed:
    fresh = authorize(
        idp, person, client_id="server-app", code_challenge=None, code_challenge_method=None
    )
    ok = exchange(idp, fresh, client_id="server-app", client_secret=secret, code_verifier=None)
    assert ok.status_code == 200, ok.content


def test_confidential_client_needs_its_secret(idp, confidential_client, person):
    authorized = authorize(idp, person, client_id="server-app")
    before = stored()
    answer = exchange(idp, authorized, client_id="server-app", client_secret="guess")
    assert answer.status_code == 401 and oauth_error(answer) == "invalid_client"
    assert stored() == before


def test_hs256_public_client_gets_an_error_not_a_500(idp, public_client, person):
    authorized = authorize(idp, person)
    OIDCClient.objects.filter(pk=public_client.pk).update(jwt_alg="HS256")
    answer = exchange(idp, authorized)
    assert answer.status_code == 400 and oauth_error(answer) == "unauthorized_client"


def test_client_credentials_for_a_public_client_with_scopes_is_refused(idp, public_client):
    assert public_client.scope  # the seed fills them in, which the library took as a licence
    answer = token(idp, grant_type="client_credentials", client_id=CLIENT_ID, scope="openid")
    assert answer.status_code == 400 and oauth_error(answer) == "unauthorized_client"
    assert not Token.objects.exists()


def test_token_endpoint_answers_get_with_a_json_error(idp):
    answer = idp.get("/oidc/token")
    assert answer.status_code == 405 and oauth_error(answer) == "invalid_request"


# --- refresh: rotation, reuse detection, lifetimes


@pytest.mark.postgres
def test_refresh_rotates_the_refresh_token(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    second = refresh(idp, first["refresh_token"])
    assert second.status_code == 200, second.content
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert "id_token" in body
    third = refresh(idp, body["refresh_token"])
    assert third.status_code == 200
    assert Token.objects.count() == 1  # one family, one live token


@pytest.mark.postgres
def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(
    idp, public_client, person, settings
):
    settings.OIDC_REFRESH_REUSE_GRACE_SECONDS = 0
    first = exchange(idp, authorize(idp, person)).json()
    newest = refresh(idp, first["refresh_token"]).json()
    bystander = exchange(idp, authorize(idp, person)).json()

    reuse = refresh(idp, first["refresh_token"])
    assert reuse.status_code == 400 and oauth_error(reuse) == "invalid_grant"

    assert oauth_error(refresh(idp, newest["refresh_token"])) == "invalid_grant"
    userinfo = idp.get("/oidc/userinfo", HTTP_AUTHORIZATION=f"Bearer {newest['access_token']}")
    assert userinfo.status_code == 401
    assert refresh(idp, bystander["refresh_token"]).status_code == 200


@pytest.mark.postgres
def test_a_rotated_token_within_the_grace_period_is_refused_without_revoking(
    idp, public_client, person
):
    first = exchange(idp, authorize(idp, person)).json()
    newest = refresh(idp, first["refresh_token"]).json()
    assert oauth_error(refresh(idp, first["refresh_token"])) == "invalid_grant"
    assert refresh(idp, newest["refresh_token"]).status_code == 200


def _age_grant(**ages: int) -> None:
    now = timezone.now()
    Grant.objects.update(
        **{field: now - datetime.timedelta(seconds=seconds) for field, seconds in ages.items()}
    )


def test_a_refresh_token_unused_for_the_idle_lifetime_expires(idp, public_client, person, settings):
    settings.OIDC_REFRESH_IDLE_SECONDS = 100
    first = exchange(idp, authorize(idp, person)).json()
    _age_grant(last_used_at=101)
    before = stored()
    assert oauth_error(refresh(idp, first["refresh_token"])) == "invalid_grant"
    assert stored() == before


def test_a_refresh_takes_one_read_and_the_rotation(idp, public_client, person):
    tokens = exchange(idp, authorize(idp, person)).json()
    # The signing key is read once per process: this refresh reads it.
    current = refresh(idp, tokens["refresh_token"]).json()["refresh_token"]
    with CaptureQueriesContext(connection) as captured:
        answer = refresh(idp, current)
    assert answer.status_code == 200
    statements = [q["sql"].split()[0] for q in captured if "SAVEPOINT" not in q["sql"]]
    assert statements == refresh_statements()


def test_refreshing_restarts_the_idle_lifetime(idp, public_client, person, settings):
    settings.OIDC_REFRESH_IDLE_SECONDS = 100
    first = exchange(idp, authorize(idp, person)).json()
    _age_grant(last_used_at=99)
    assert refresh(idp, first["refresh_token"]).status_code == 200
    assert timezone.now() - Grant.objects.get().last_used_at < datetime.timedelta(seconds=5)


def test_no_refresh_after_the_absolute_lifetime(idp, public_client, person, settings):
    settings.OIDC_REFRESH_ABSOLUTE_SECONDS = 1000
    first = exchange(idp, authorize(idp, person)).json()
    _age_grant(created_at=1001, last_used_at=1)
    assert oauth_error(refresh(idp, first["refresh_token"])) == "invalid_grant"


def test_a_narrower_scope_on_refresh_is_granted(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    answer = refresh(idp, first["refresh_token"], scope="openid offline_access")
    assert answer.status_code == 200
    assert answer.json()["scope"] == "openid offline_access"


@pytest.mark.postgres
def test_a_rotation_lost_between_read_and_write_is_refused(idp, public_client, person, monkeypatch):
    """What a parallel request sees when another rotated the token after its read.

    SQLite's IMMEDIATE transactions serialise whole requests, so this interleaving only
    happens on PostgreSQL; here it is forced, to show the conditional UPDATE decides.
    """
    first = exchange(idp, authorize(idp, person)).json()
    real_create_token = refresh_grant.create_token

    def rotated_meanwhile(**kwargs):
        Token.objects.update(refresh_token="the-winners-token")
        return real_create_token(**kwargs)

    monkeypatch.setattr(refresh_grant, "create_token", rotated_meanwhile)
    answer = refresh(idp, first["refresh_token"])
    assert answer.status_code == 400 and oauth_error(answer) == "invalid_grant"
    # (The simulated winner wrote inside this request's transaction, rolled back with it.)
    assert Token.objects.count() == 1
    assert Grant.objects.get().previous_refresh_hash == ""


def test_an_older_refresh_token_is_reuse_even_within_the_grace_period(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    second = refresh(idp, first["refresh_token"]).json()
    newest = refresh(idp, second["refresh_token"]).json()
    assert oauth_error(refresh(idp, first["refresh_token"])) == "invalid_grant"
    assert oauth_error(refresh(idp, newest["refresh_token"])) == "invalid_grant"  # revoked


def test_refresh_tokens_of_a_grant_share_its_family(idp, public_client, person):
    first = exchange(idp, authorize(idp, person)).json()
    second = refresh(idp, first["refresh_token"]).json()
    family = Grant.objects.get().family
    assert first["refresh_token"].startswith(f"{family}.")
    assert second["refresh_token"].startswith(f"{family}.")


def test_without_a_signing_key_a_refresh_is_refused_and_the_token_still_works(
    idp, public_client, person
):
    tokens = exchange(idp, authorize(idp, person)).json()
    saved = list(RSAKey.objects.values_list("key", flat=True))
    RSAKey.objects.all().delete()

    answer = refresh(idp, tokens["refresh_token"])
    assert answer.status_code == 503 and oauth_error(answer) == "temporarily_unavailable"

    RSAKey.objects.bulk_create(RSAKey(key=pem) for pem in saved)
    keys.forget_keys()  # bulk_create sends no post_save
    assert refresh(idp, tokens["refresh_token"]).status_code == 200  # nothing was rotated


def test_a_client_with_an_unknown_algorithm_gets_an_error_not_a_500(idp, public_client, person):
    authorized = authorize(idp, person)
    OIDCClient.objects.filter(pk=public_client.pk).update(jwt_alg="PS512")
    answer = exchange(idp, authorized)
    assert answer.status_code == 400 and oauth_error(answer) == "unauthorized_client"
