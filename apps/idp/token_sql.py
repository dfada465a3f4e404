"""The statements every refresh and userinfo request runs, written once instead of per request.

Built through the ORM, these queries were compiled anew on each request: that compilation
was about half of a refresh's CPU and a third of userinfo's (bench/inprocess.py). Here each
statement is built once per database from the models' own table and column
names, so it stays right for SQLite and PostgreSQL alike. Rows become ordinary model
instances through the converters the ORM itself applies (datetimes and booleans on
SQLite), so code downstream sees the same objects the ORM would have given it.

A refresh on PostgreSQL is two round trips and no explicit transaction: the lookup, a plain
read, then the rotation as one statement (a CTE that replaces the token's values and records
the rotation on its grant), atomic by itself. Elsewhere (SQLite) the same two steps run in
the token endpoint's write transaction, the rotation as two UPDATEs.
"""

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import Token
from psycopg import Cursor as ServerBindingCursor

from apps.idp.claims import USERINFO_USER_FIELDS  # the user columns userinfo reads
from apps.idp.models import Grant, IssuedToken

# What a rotation replaces in the token's row; the row itself (its id, grant link) stays.
ROTATED_COLUMNS = ("access_token", "refresh_token", "expires_at", "_scope", "_id_token")
# The fields the refresh grant reads (attnames; each model's primary key comes too). Any other
# is deferred: the ORM reads it on first use (a custom OIDC_IDTOKEN_SUB_GENERATOR may).
REFRESH_TOKEN_FIELDS = ("client_id", "user_id", "refresh_token", "_scope", "_id_token")
REFRESH_GRANT_FIELDS = (
    "family",
    "scope",
    "resource",
    "created_at",
    "last_used_at",
    "revoked_at",
    "dpop_jkt",
)
REFRESH_USER_FIELDS = ("last_login", "date_joined")  # the ID token's auth_time

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


def _unbound(converter: Converter, connection: BaseDatabaseWrapper) -> Converter:
    """The converter, made to use the connection it is called with rather than `connection`.

    The backend's converters are methods of one connection's `ops`. Kept as they are in a
    cache that every thread shares, they would keep the first thread's connection alive
    after its thread ended (granian retires idle threads), and lend it to the others.
    """
    if getattr(converter, "__self__", None) is connection.ops:
        method = converter.__func__
        return lambda value, expression, current: method(current.ops, value, expression, current)
    return converter


@dataclass(frozen=True)
class Columns:
    """Some of a model's columns, as one table of a SELECT reads them."""

    model: type[Model]
    alias: str
    fields: tuple[Field, ...]
    converters: tuple[tuple[Any, tuple[Converter, ...]], ...]

    @classmethod
    def of(
        cls, connection: BaseDatabaseWrapper, model: type[Model], alias: str, names=()
    ) -> "Columns":
        """`names` (attnames) or every concrete field, in the model's order as from_db wants."""
        concrete = model._meta.concrete_fields
        fields = tuple(f for f in concrete if not names or f.attname in names or f.primary_key)
        converters = []
        for field in fields:
            column = field.get_col(alias)
            # What SQLCompiler.get_converters gathers: the backend's, then the field's own.
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append((column, tuple(_unbound(convert, connection) for convert in found)))
        return cls(model, alias, fields, tuple(converters))

    def select_list(self, connection: BaseDatabaseWrapper) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    @cached_property
    def _pk_index(self) -> int:
        return next(i for i, field in enumerate(self.fields) if field.primary_key)

    @cached_property
    def _names(self) -> list[str]:
        return [field.attname for field in self.fields]

    @cached_property
    def _converting(self) -> tuple[tuple[int, Any, tuple[Converter, ...]], ...]:
        # Only the columns that have converters (most have none): the others pass as read.
        return tuple((i, col, found) for i, (col, found) in enumerate(self.converters) if found)

    def instance(self, connection: BaseDatabaseWrapper, values: Sequence[Any]) -> Model | None:
        """The model instance of these values; None when an outer join found no row."""
        if len(values) != len(self.fields):
            raise ValueError(f"{len(values)} values for {len(self.fields)} columns")
        converted = list(values)
        for index, column, found in self._converting:
            value = converted[index]
            if value is not None:
                for convert in found:
                    value = convert(value, column, connection)
                converted[index] = value
        if converted[self._pk_index] is None:
            return None
        return self.model.from_db(connection.alias, self._names, converted)


def _table(model: type[Model], connection: BaseDatabaseWrapper) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type[Model], name: str, connection: BaseDatabaseWrapper) -> str:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return connection.ops.quote_name(field.column)


@dataclass(frozen=True)
class Statements:
    """The hot-path statements for one database, with the columns they read."""

    refresh_lookup: str
    refresh_columns: tuple[Columns, ...]  # token, client, grant, user
    userinfo_lookup: str
    userinfo_columns: tuple[Columns, ...]  # token, client, user
    rotate: str
    touch_grant: str
    rotate_and_touch_grant: str  # PostgreSQL: both in one statement


_built: dict[tuple[str, str], Statements] = {}


def statements(connection: BaseDatabaseWrapper) -> Statements:
    """The statements for this connection's database, built on first use."""
    key = (connection.alias, connection.vendor)
    if key not in _built:
        _built[key] = _build(connection)  # threads racing here build the same statements
    return _built[key]


def _build(connection: BaseDatabaseWrapper) -> Statements:
    user_model = get_user_model()
    # What a refresh reads of each row, and no more (the user's password hash stays on disk);
    # the client whole: client authentication and signing read most of it.
    t = Columns.of(connection, Token, "t", REFRESH_TOKEN_FIELDS)
    c = Columns.of(connection, OIDCClient, "c")
    g = Columns.of(connection, Grant, "g", REFRESH_GRANT_FIELDS)
    u = Columns.of(connection, user_model, "u", REFRESH_USER_FIELDS)
    ut = Columns.of(connection, Token, "t", ("expires_at", "_scope", "_id_token", "user_id"))
    uc = Columns.of(connection, OIDCClient, "c", ("client_id",))
    uu = Columns.of(connection, user_model, "u", USERINFO_USER_FIELDS)

    def col(model: type[Model], name: str) -> str:
        return _column(model, name, connection)

    token, client, grant, user = (
        _table(Token, connection),
        _table(OIDCClient, connection),
        _table(Grant, connection),
        _table(user_model, connection),
    )
    client_join = f"INNER JOIN {client} c ON c.{col(OIDCClient, 'id')} = t.{col(Token, 'client')}"
    joins = f"FROM {token} t {client_join}"
    user_join = f"LEFT OUTER JOIN {user} u ON u.{col(user_model, 'pk')} = t.{col(Token, 'user')}"
    refresh_lookup = (
        f"SELECT {', '.join(part.select_list(connection) for part in (t, c, g, u))} {joins} "
        f"LEFT OUTER JOIN {_table(IssuedToken, connection)} l "
        f"ON l.{col(IssuedToken, 'token')} = t.{col(Token, 'id')} "
        f"LEFT OUTER JOIN {grant} g ON g.{col(Grant, 'id')} = l.{col(IssuedToken, 'grant')} "
        f"{user_join} "
        f"WHERE t.{col(Token, 'refresh_token')} = %s AND c.{col(OIDCClient, 'client_id')} = %s"
    )
    userinfo_lookup = (
        f"SELECT {', '.join(part.select_list(connection) for part in (ut, uc, uu))} {joins} "
        f"{user_join} WHERE t.{col(Token, 'access_token')} = %s"
    )
    # S608: identifiers come from the models, quoted by the backend; values are parameters.
    assignments = ", ".join(f"{col(Token, name)} = %s" for name in ROTATED_COLUMNS)
    token_match = f"{col(Token, 'id')} = %s AND {col(Token, 'refresh_token')} = %s"
    rotate = f"UPDATE {token} SET {assignments} WHERE {token_match}"  # noqa: S608
    grant_columns = f"{col(Grant, 'last_used_at')} = %s, {col(Grant, 'previous_refresh_hash')} = %s"
    touch_grant = f"UPDATE {grant} SET {grant_columns} WHERE {col(Grant, 'id')} = %s"  # noqa: S608
    # Of concurrent rotations of one token, the others wait on the row for the first to commit,
    # then find its refresh token changed (PostgreSQL re-reads the WHERE on the new row): none
    # of theirs matches, the grant is left alone, and the count is 0. Every sub-statement
    # runs to completion whatever the final SELECT reads (PostgreSQL's WITH).
    rotate_and_touch_grant = (
        f"WITH rotated AS ({rotate} RETURNING 1), "  # noqa: S608
        f"touched AS ({touch_grant} AND EXISTS (SELECT 1 FROM rotated) RETURNING 1) "
        "SELECT count(*) FROM rotated"
    )
    return Statements(
        refresh_lookup,
        (t, c, g, u),
        userinfo_lookup,
        (ut, uc, uu),
        rotate,
        touch_grant,
        rotate_and_touch_grant,
    )


def _cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor for these statements, as `connection.cursor()` makes one (Django's errors,
    statement hooks and query log), but on PostgreSQL one that binds on the server, unless
    settings.DATABASE_PREPARED_STATEMENTS is off, and on SQLite Python's own sqlite3 cursor.

    Django's SQLite cursor rewrites each statement's `%s` into sqlite3's `?` with a regular
    expression on every call: for the refresh lookup that took longer than SQLite took to run
    it. `_QmarkCursor` rewrites each of these statements once. Not while queries are logged
    (DEBUG, or a test capturing them): Django's log formats the statement's `%s` itself.

    Django's PostgreSQL cursors bind on the client and never prepare (so that transaction
    poolers work): each statement is sent as text that PostgreSQL parses and plans anew on
    every request. For userinfo's lookup that was four fifths of its cost to PostgreSQL
    (pgbench: 0.25 ms a query, 0.055 ms prepared). A cursor that binds on the server lets
    psycopg prepare a statement once it has run `prepare_threshold` times on a connection
    (config/settings.py sets it; Django's own cursors still never prepare).
    """
    sqlite = connection.vendor == "sqlite" and not connection.queries_logged
    prepared = connection.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS
    if not (sqlite or prepared):
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        if sqlite:
            return _QmarkCursor(connection.connection.cursor(), connection)
        raw = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


@functools.cache
def _qmark(sql: str) -> str:
    return sql.replace("%s", "?")  # these statements hold no literal %


class _QmarkCursor(CursorWrapper):
    """Django's cursor wrapper (its errors and statement hooks) over sqlite3's own cursor,
    each statement's `%s` rewritten into `?` once per statement rather than once per call."""

    def execute(self, sql: str, params: Sequence[Any] | None = None):
        return super().execute(_qmark(sql), params)


def _fetch_one(sql: str, params: Sequence[Any], columns: tuple[Columns, ...], using: str):
    connection = connections[using]
    with _cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for part in columns:
        end = start + len(part.fields)
        instances.append(part.instance(connection, row[start:end]))
        start = end
    return instances


@dataclass(frozen=True)
class PresentedRefresh:
    """A refresh token's row, its client and user attached, and the grant it belongs to."""

    token: Token
    grant: Grant | None


def find_refresh_token(
    value: str, client_id: str, using: str = "default"
) -> PresentedRefresh | None:
    """The token whose refresh token is `value` for client `client_id`; one query, no lock:
    `rotate` replaces it only if it is still `value`."""
    connection = connections[using]
    found = statements(connection)
    row = _fetch_one(found.refresh_lookup, (value, client_id), found.refresh_columns, using)
    if row is None:
        return None
    token, client, grant, user = row
    token.client, token.user = client, user
    return PresentedRefresh(token, grant)


def token_for_userinfo(access_token: str, using: str = "default") -> Token | None:
    """The access token's row with its client's id and the user's userinfo columns."""
    connection = connections[using]
    found = statements(connection)
    row = _fetch_one(found.userinfo_lookup, (access_token,), found.userinfo_columns, using)
    if row is None:
        return None
    token, client, user = row
    token.client, token.user = client, user
    return token


def rotates_in_one_statement(using: str = "default") -> bool:
    """PostgreSQL: `rotate` is one statement, atomic without a transaction around it."""
    return connections[using].vendor == "postgresql"


def rotate(
    token_pk: int,
    presented: str,
    fresh: Token,
    *,
    grant_pk: int,
    used_at: datetime,
    replaced_hash: str,
    using: str = "default",
) -> bool:
    """Replace the token's values, only if its refresh token is still `presented` (the stored
    hash that found it), and then record the rotation on its grant: when, and the SHA-256
    hash of the token it replaced.

    False, and nothing written, if the token was rotated or revoked meanwhile.
    """
    connection = connections[using]
    values = [
        Token._meta.get_field(name).get_db_prep_value(getattr(fresh, name), connection)
        for name in ROTATED_COLUMNS
    ]
    used = Grant._meta.get_field("last_used_at").get_db_prep_value(used_at, connection)
    rotation = (*values, token_pk, presented)
    touch = (used, replaced_hash, grant_pk)
    found = statements(connection)
    with _cursor(connection) as cursor:
        if rotates_in_one_statement(using):
            cursor.execute(found.rotate_and_touch_grant, (*rotation, *touch))
            return cursor.fetchone()[0] == 1
        cursor.execute(found.rotate, rotation)
        if cursor.rowcount != 1:
            return False
        cursor.execute(found.touch_grant, touch)
        return True
