"""Codes and tokens at rest (issue #10 item 14): the database keeps only their SHA-256.

What a client holds is never in any column of any table, a value copied out of the database
is refused wherever a token is accepted, and rows written in clear before are hashed by the
migration without signing anyone out.
"""

import importlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps as installed_apps
from django.db import connection
from oidc_provider.models import Code, Token

from apps.idp import migrations as idp_migrations
from apps.idp import policy
from tests.idp.oauth import CLIENT_ID, authorize, exchange, oauth_error, refresh
from tests.idp.test_back_channel import add_confidential_client, revoke, userinfo
from tests.idp.test_client_authentication import basic
from tests.idp.test_device_grant import poll, start, verify


def columns_holding(secret: str) -> list[str]:
    """Every table.column of the database with a value that contains `secret`."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            names = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for name, value in zip(names, row, strict=True):
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    if isinstance(value, str) and secret in value:
                        found.append(f"{table}.{name}")
    return found


def assert_kept_as_hashes_only(*secrets: str) -> None:
    for secret in secrets:
        assert columns_holding(secret) == [], secret
        assert columns_holding(policy.token_hash(secret)), secret  # what is kept instead


@pytest.mark.postgres
def test_the_code_flow_leaves_no_usable_code_or_token_in_the_database(idp, public_client, person):
    authorized = authorize(idp, person)
    assert_kept_as_hashes_only(authorized.code)
    first = exchange(idp, authorized).json()
    assert_kept_as_hashes_only(first["access_token"], first["refresh_token"])
    second = refresh(idp, first["refresh_token"]).json()
    assert_kept_as_hashes_only(second["access_token"], second["refresh_token"])
    assert columns_holding(first["access_token"]) == []


def test_the_device_grant_leaves_no_usable_token_in_the_database(idp, public_client, person):
    body = start(idp)
    verify(idp, person, body["user_code"], "allow")
    tokens = poll(idp, body["device_code"]).json()
    assert_kept_as_hashes_only(body["device_code"], tokens["access_token"], tokens["refresh_token"])


def test_client_credentials_leave_no_usable_token_in_the_database(idp):
    add_confidential_client("machine", "y" * 32, "RS256", _scope="read")
    answer = idp.post(
        "/oidc/token", {"grant_type": "client_credentials"}, **basic("machine", "y" * 32)
    )
    assert answer.status_code == 200, answer.content
    assert_kept_as_hashes_only(answer.json()["access_token"])


def introspect(idp, value: str) -> dict:
    return idp.post("/oidc/introspect", {"token": value}, **basic("machine", "y" * 32)).json()


def test_values_copied_from_the_database_are_refused_everywhere(idp, public_client, person):
    add_confidential_client("machine", "y" * 32, "RS256", _scope=f"token_introspection {CLIENT_ID}")
    authorized = authorize(idp, person)
    copied_code = Code.objects.get().code
    assert oauth_error(exchange(idp, authorized, code=copied_code)) == "invalid_grant"
    tokens = exchange(idp, authorized).json()  # the code itself is still good
    assert "access_token" in tokens, tokens
    copied = Token.objects.get()

    assert userinfo(idp, copied.access_token).status_code == 401
    assert introspect(idp, copied.access_token) == {"active": False}
    assert oauth_error(refresh(idp, copied.refresh_token)) == "invalid_grant"
    for value, hint in ((copied.refresh_token, ""), (copied.access_token, "access_token")):
        answer = revoke(idp, token=value, token_type_hint=hint, client_id=CLIENT_ID)
        assert answer.status_code == 200  # as for any unknown token (RFC 7009 §2.2)

    # None of it touched the grant: what the client holds still works.
    assert userinfo(idp, tokens["access_token"]).status_code == 200
    assert introspect(idp, tokens["access_token"])["active"] is True
    assert refresh(idp, tokens["refresh_token"]).status_code == 200


# --- the migration of rows written in clear


def hash_clear_values() -> None:
    """The data migration's function, as `migrate` runs it (its number changes on merges)."""
    path = next(Path(idp_migrations.__file__).parent.glob("*_hash_tokens_at_rest.py"))
    migration = importlib.import_module(f"apps.idp.migrations.{path.stem}")
    migration.hash_clear_values(installed_apps, SimpleNamespace(connection=connection))


@pytest.mark.postgres
def test_the_migration_hashes_clear_rows_and_their_tokens_keep_working(idp, public_client, person):
    # What a database written before hashing holds: the values themselves.
    code_row = authorize(idp, person)
    token_row = exchange(idp, authorize(idp, person)).json()
    pending = authorize(idp, person)
    Token.objects.update(
        access_token=token_row["access_token"], refresh_token=token_row["refresh_token"]
    )
    for value in (code_row.code, pending.code):
        Code.objects.filter(code=policy.token_hash(value)).update(code=value)
    assert columns_holding(token_row["access_token"])

    hash_clear_values()
    after = (list(Token.objects.values_list()), list(Code.objects.values_list()))
    hash_clear_values()  # a second run (or a database already hashed) changes nothing
    assert (list(Token.objects.values_list()), list(Code.objects.values_list())) == after

    assert_kept_as_hashes_only(token_row["access_token"], token_row["refresh_token"])
    assert_kept_as_hashes_only(code_row.code, pending.code)
    assert userinfo(idp, token_row["access_token"]).status_code == 200
    assert refresh(idp, token_row["refresh_token"]).status_code == 200
    assert exchange(idp, pending).status_code == 200


def test_no_value_the_idp_issues_has_the_shape_of_a_hash():
    """The migration's rule: a 64-hex-digit value is a hash already, never an issued value."""
    from oidc_provider.lib.utils.token import create_token

    made = create_token(user=None, client=None, scope=["openid"])
    issued = (made.access_token, made.refresh_token, policy.new_refresh_token(policy.new_family()))
    assert not any(policy.is_token_hash(value) for value in issued)
    assert policy.is_token_hash(policy.token_hash(made.access_token))
    assert policy.hashed_once(policy.token_hash("x")) == policy.token_hash("x")
