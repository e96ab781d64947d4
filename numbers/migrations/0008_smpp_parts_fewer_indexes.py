"""SMSC parts lose the indexes of their own on account and message (and message's `_like` twin):
the (account, id…) indexes and the one-part-per-index constraint start with those columns and
serve every query, and each part written touched three indexes more. The indexes are dropped
concurrently and the foreign keys stay as they are (an AlterField would drop and re-add them,
checking every part against the messages table under lock). SQLite keeps its indexes: harmless.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    "numbers_smpppart_account_id_bf41c6d7",
    "numbers_smpppart_message_id_22cc74cb",
    "numbers_smpppart_message_id_22cc74cb_like",
]


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def make_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column, ops in [
        (INDEXES[0], "account_id", ""),
        (INDEXES[1], "message_id", ""),
        (INDEXES[2], "message_id", " varchar_pattern_ops"),
    ]:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON numbers_smpppart ({column}{ops})"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0018_webhook_endpoints_credentials"),
        ("numbers", "0007_carrier_accounts_per_carrier"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="smpppart",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="numbers.provideraccount",
                    ),
                ),
                migrations.AlterField(
                    model_name="smpppart",
                    name="message",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="messaging.message",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, make_indexes)],
        ),
    ]
