"""PostgreSQL: the token table's hashes lose the prefix-search indexes nobody uses.

On PostgreSQL Django gives every unique varchar column a second index, built with
varchar_pattern_ops for `LIKE 'prefix%'`. The library's token table has two such columns,
access_token and refresh_token, which hold SHA-256 hashes (0007) looked up whole, through
their unique indexes; nothing searches them by prefix. A refresh rewrites both columns, so
PostgreSQL cannot update the row in place (HOT) and inserts an entry into every index of the
table: seven per refresh with these two, five without. Other databases have no such indexes.
"""

from django.db import migrations

COLUMNS = ("access_token", "refresh_token")


def _like_indexes(apps, schema_editor):
    token = apps.get_model("oidc_provider", "Token")
    table = token._meta.db_table
    for column in COLUMNS:
        field = token._meta.get_field(column)
        name = schema_editor._create_index_name(table, [field.column], suffix="_like")
        yield token, field, name


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, _, name in _like_indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for token, field, _ in _like_indexes(apps, schema_editor):
        schema_editor.execute(schema_editor._create_like_index_sql(token, field))


class Migration(migrations.Migration):
    dependencies = [
        ("idp", "0009_dpop_binding"),
        ("oidc_provider", "0027_alter_rsakey_options"),
    ]

    operations = [migrations.RunPython(drop_like_indexes, create_like_indexes)]
