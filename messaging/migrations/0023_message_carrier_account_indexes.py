"""Removing a carrier account (numbers.services.carrier_account_remove) clears it from its messages
(SET_NULL: `UPDATE … WHERE carrier_account_id IN (…)`, the same for fallback_account_id) and
PostgreSQL then checks that no message still names it; with neither column indexed, each was a
scan of every message, on a web request. Most messages name neither account, so the indexes hold
only those that do (WHERE … IS NOT NULL, which both the UPDATE's and the check's `= id` imply).

Built CONCURRENTLY (so this migration is not atomic): the messages table is never locked. An
interrupted concurrent build leaves an invalid index of the same name behind, which IF NOT EXISTS
would keep and the planner would never use: it is dropped first. SQLite (the embedded default)
gets the state's own CREATE INDEX.
"""

import importlib

from django.db import migrations, models

OnPostgres = importlib.import_module("messaging.migrations.0021_schema_fewer_checks_and_indexes").OnPostgres

TABLE = "messaging_message"
COLUMNS = {"msg_carrier_account": "carrier_account", "msg_fallback_account": "fallback_account"}


def drop_invalid_leftovers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in COLUMNS:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid", [name]
            )
            invalid = cursor.fetchone() is not None
        if invalid:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def partial_index(name, field):
    column = f"{field}_id"
    return OnPostgres(
        migrations.AddIndex(
            model_name="message",
            index=models.Index(condition=models.Q((f"{field}__isnull", False)), fields=[field], name=name),
        ),
        [f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} ({column}) WHERE {column} IS NOT NULL"],
        [f"DROP INDEX CONCURRENTLY IF EXISTS {name}"],
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("messaging", "0022_search_contact_names"),
    ]

    operations = [
        migrations.RunPython(drop_invalid_leftovers, migrations.RunPython.noop),
        *(partial_index(name, field) for name, field in COLUMNS.items()),
    ]
