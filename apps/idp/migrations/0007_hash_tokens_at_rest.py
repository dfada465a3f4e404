"""Codes and tokens issued before hashing at rest: replace each stored value by its SHA-256.

The tokens stay valid: the endpoints hash what a client presents and look that up. A value
that is 64 hex digits is a hash already (no code or token this IdP or the library issues has
that shape, see `policy.hashed_once`), so running this again, or on a database that
already hashes, changes nothing. There is no way back: reversing leaves the hashes in
place, which the older code cannot match, so a downgrade signs every client out.
"""

from django.db import migrations

from apps.idp import policy

BATCH = 500
HASHED_COLUMNS = (("Token", ("access_token", "refresh_token")), ("Code", ("code",)))


def hash_clear_values(apps, schema_editor) -> None:
    database = schema_editor.connection.alias
    for model_name, columns in HASHED_COLUMNS:
        model = apps.get_model("oidc_provider", model_name)
        rows = model.objects.using(database).only("pk", *columns).order_by("pk")
        last_pk = 0
        # Pages by primary key rather than one open cursor: SQLite gives a reader no
        # isolation from the updates made beside it on the same connection.
        while page := list(rows.filter(pk__gt=last_pk)[:BATCH]):
            last_pk = page[-1].pk
            changed = []
            for row in page:
                stored = [getattr(row, column) for column in columns]
                hashed = [policy.hashed_once(value) for value in stored]
                if hashed != stored:
                    for column, value in zip(columns, hashed, strict=True):
                        setattr(row, column, value)
                    changed.append(row)
            model.objects.using(database).bulk_update(changed, columns)


class Migration(migrations.Migration):

    dependencies = [
        ('idp', '0006_dpop_proof_use'),
        ('oidc_provider', '0027_alter_rsakey_options'),
    ]

    operations = [
        migrations.RunPython(hash_clear_values, migrations.RunPython.noop),
    ]
