"""Each DPoP proof is accepted once (RFC 9449 §11.1), across every instance of the IdP.

Checking first and inserting after would let two instances both accept the same proof: the
database's unique (jkt, jti) constraint decides instead, at the INSERT. `ON CONFLICT DO
NOTHING` (SQLite and PostgreSQL) makes a replay an INSERT of no row rather than an error, so
it needs no savepoint and leaves the caller's transaction as it was; the statement is built
once per database, as the hot path's others are (apps/idp/token_sql.py).
"""

from datetime import datetime

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from apps.idp.models import DPoPProofUse

_COLUMNS = ("jkt", "jti", "expires_at")
_inserts: dict[tuple[str, str], str] = {}


def _insert(connection: BaseDatabaseWrapper) -> str:
    key = (connection.alias, connection.vendor)
    if key not in _inserts:
        quote = connection.ops.quote_name
        table = quote(DPoPProofUse._meta.db_table)
        jkt, jti, expires_at = (quote(DPoPProofUse._meta.get_field(n).column) for n in _COLUMNS)
        # S608: identifiers come from the model, quoted by the backend; values are parameters.
        _inserts[key] = (
            f"INSERT INTO {table} ({jkt}, {jti}, {expires_at}) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT ({jkt}, {jti}) DO NOTHING"
        )
    return _inserts[key]


def remember_jti(jkt: str, jti: str, expires_at: datetime, using: str = "default") -> bool:
    """Record a proof's use; False if this key's proof with this jti was seen before.

    Of concurrent requests with one proof, PostgreSQL makes the later INSERTs wait for the
    first's transaction: they then insert nothing (it committed) or their row (it rolled back).
    """
    connection = connections[using]
    field = DPoPProofUse._meta.get_field("expires_at")
    values = (jkt, jti, field.get_db_prep_value(expires_at, connection))
    with connection.cursor() as cursor:
        cursor.execute(_insert(connection), values)
        return cursor.rowcount == 1


def forget_expired(now: datetime) -> int:
    """Delete the uses whose proofs no check accepts any more; how many went."""
    deleted, _ = DPoPProofUse.objects.filter(expires_at__lte=now).delete()
    return deleted
