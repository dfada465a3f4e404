"""apps/idp/token_sql.py: its rows are the rows the ORM would have given, on every database."""

import datetime
import gc
import threading
import weakref

import pytest
from django.db import connections
from django.utils import timezone
from oidc_provider.models import Token

from apps.idp import token_sql
from apps.idp.models import Grant
from tests.idp.oauth import CLIENT_ID, authorize, exchange, refresh

pytestmark = pytest.mark.postgres


def field_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.fixture
def issued(idp, public_client, person) -> Token:
    person.last_login = timezone.now() - datetime.timedelta(hours=1)
    person.save(update_fields=["last_login"])
    answer = exchange(idp, authorize(idp, person))
    token = Token.objects.select_related("client", "user", "grant_link__grant").get()
    token.sent = answer.json()  # what the client holds; the row keeps only its hashes
    return token


def test_the_refresh_lookup_reads_what_the_orm_reads(issued):
    presented = token_sql.find_refresh_token(issued.refresh_token, CLIENT_ID)

    # Only what a refresh uses is read; the rest loads on first use, as the ORM's only() does.
    assert "password" in presented.token.user.get_deferred_fields()
    assert "access_token" in presented.token.get_deferred_fields()
    assert "code_hash" in presented.grant.get_deferred_fields()
    assert not presented.token.client.get_deferred_fields()
    assert field_values(presented.token) == field_values(issued)
    assert field_values(presented.token.client) == field_values(issued.client)
    assert field_values(presented.token.user) == field_values(issued.user)
    assert field_values(presented.grant) == field_values(issued.grant_link.grant)
    # Datetimes come back aware and booleans as booleans, on SQLite as on PostgreSQL.
    assert presented.token.user.last_login == issued.user.last_login
    assert presented.token.user.last_login.tzinfo is not None
    assert presented.token.client.require_consent is issued.client.require_consent


def test_the_refresh_lookup_needs_the_right_client(issued):
    assert token_sql.find_refresh_token(issued.refresh_token, "another-cli") is None
    assert token_sql.find_refresh_token("not-" + issued.refresh_token, CLIENT_ID) is None


def test_the_userinfo_lookup_reads_the_token_and_the_users_claims(issued):
    token = token_sql.token_for_userinfo(issued.access_token)

    assert token.pk == issued.pk and token.scope == issued.scope
    assert token.expires_at == issued.expires_at and token.id_token == issued.id_token
    assert token.client.client_id == CLIENT_ID
    assert (token.user.pk, token.user.username, token.user.email) == (
        issued.user.pk,
        issued.user.username,
        issued.user.email,
    )
    assert token_sql.token_for_userinfo("unknown") is None


def test_rotation_replaces_only_the_presented_token_and_records_it_on_the_grant(issued):
    grant = issued.grant_link.grant
    fresh = Token(
        access_token="a" * 32,
        refresh_token="r" * 32,
        expires_at=timezone.now() + datetime.timedelta(minutes=5),
        _scope="openid",
        _id_token="{}",
    )
    used_at = timezone.now()
    rotation = {"grant_pk": grant.pk, "used_at": used_at, "replaced_hash": "f" * 64}

    assert not token_sql.rotate(issued.pk, "not the current one", fresh, **rotation)
    grant.refresh_from_db()
    assert (grant.last_used_at, grant.previous_refresh_hash) != (used_at, "f" * 64)

    assert token_sql.rotate(issued.pk, issued.refresh_token, fresh, **rotation)
    stored = Token.objects.get(pk=issued.pk)
    assert (stored.access_token, stored.refresh_token, stored.scope) == (
        "a" * 32,
        "r" * 32,
        ["openid"],
    )
    assert stored.expires_at == fresh.expires_at
    grant.refresh_from_db()
    assert (grant.last_used_at, grant.previous_refresh_hash) == (used_at, "f" * 64)
    assert not token_sql.rotate(issued.pk, issued.refresh_token, fresh, **rotation)  # spent


def test_the_refresh_lookup_locks_nothing(db):
    # One winner comes from the rotation's WHERE, not from a lock: on PostgreSQL a row lock
    # taken outside a transaction would be released before the rotation anyway.
    lookup = token_sql.statements(connections["default"]).refresh_lookup
    assert "FOR UPDATE" not in lookup
    assert Grant._meta.db_table in lookup


@pytest.mark.django_db(transaction=True)
def test_a_refresh_reads_outside_a_transaction_and_rotates_in_one_of_its_own(idp, issued):
    connection = connections["default"]
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql.split(None, 1)[0], connection.get_autocommit()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        answer = refresh(idp, issued.sent["refresh_token"])
    assert answer.status_code == 200, answer.content
    statements = [(verb, autocommit) for verb, autocommit in seen if verb != "BEGIN"]
    if connection.vendor == "postgresql":
        # Two round trips: no BEGIN and no COMMIT around the lookup and the one-statement
        # rotation (a CTE); each commits by itself.
        assert statements == [("SELECT", True), ("WITH", True)]
    else:  # SQLite: the write lock (BEGIN IMMEDIATE) for the two UPDATEs only
        assert statements == [("SELECT", True), ("UPDATE", False), ("UPDATE", False)]


@pytest.mark.django_db(transaction=True)
def test_statements_do_not_keep_a_finished_threads_connection(issued):
    """Server threads come and go (granian retires idle ones); their connections must too."""
    token_sql._built.clear()  # built afresh below, by the short-lived thread
    seen = {}

    def serve_one_request() -> None:
        seen["connection"] = weakref.ref(connections["default"])
        seen["token"] = token_sql.token_for_userinfo(issued.access_token)
        connections["default"].close()

    thread = threading.Thread(target=serve_one_request)
    thread.start()
    thread.join()
    del seen["token"]  # the instances name the connection's alias only, not the connection
    gc.collect()

    assert seen["connection"]() is None
    # The statements it built serve the other threads, converting with their own connection.
    token = token_sql.token_for_userinfo(issued.access_token)
    assert token.expires_at == issued.expires_at and token.expires_at.tzinfo is not None


def test_token_hashes_keep_their_unique_indexes_and_no_prefix_search_ones(db):
    """Migration 0010: on PostgreSQL each rotation writes five index entries, not seven."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL gets varchar_pattern_ops indexes for unique columns")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", [Token._meta.db_table]
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert not [index for index in definitions if "varchar_pattern_ops" in index]
    for column in ("access_token", "refresh_token"):
        assert any("UNIQUE INDEX" in d and f"({column})" in d for d in definitions), definitions


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_refresh_and_userinfo_statements_run_prepared(idp, issued):
    """Parsed and planned once per connection, not on every request (token_sql._cursor)."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps its own statement cache")
    current = issued.sent["refresh_token"]
    for _ in range(7):  # psycopg prepares a statement on its 5th run on a connection
        answer = refresh(idp, current)
        assert answer.status_code == 200, answer.content
        current = answer.json()["refresh_token"]
        bearer = f"Bearer {answer.json()['access_token']}"
        assert idp.get("/oidc/userinfo", HTTP_AUTHORIZATION=bearer).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    found = token_sql.statements(connection)
    for statement in (found.refresh_lookup, found.rotate_and_touch_grant, found.userinfo_lookup):
        head = statement.split("%s", 1)[0]  # prepared with $1, $2... in place of %s
        assert any(text.startswith(head) for text in prepared), (head, prepared)


def test_on_sqlite_the_statements_reach_sqlite3_in_its_own_style(issued):
    if connections["default"].vendor != "sqlite":
        pytest.skip("the rewrite of %s into ? is SQLite's")
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections["default"].execute_wrapper(record):
        assert token_sql.find_refresh_token(issued.refresh_token, CLIENT_ID) is not None

    assert len(seen) == 1 and "?" in seen[0] and "%s" not in seen[0]
