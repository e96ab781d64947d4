"""The body's trigram index (`search`) holds only the messages that are not in flight: a message
waiting for its turn or being sent (queued, sending) changes status several times in a few seconds,
and each change of an indexed column writes a new entry for each of the body's trigrams into the
index's pending list, which the write that fills it then merges into the index (tens of ms, paid
by whichever statement it falls on: the claim, bench/scale.py). The messages in flight are found
by `msg_ws_status` instead (messaging.selectors.message_list searches both). Built concurrently,
then the old one dropped concurrently: the messages table is never locked.

PostgreSQL takes no statistics from a partial index, and the old index's were what told the
planner how many bodies hold a word (a common word's search walks the workspace's newest
messages; a rare one looks its rows up in the index): statistics on UPPER(body) keep them
(CREATE STATISTICS, then ANALYZE; neither blocks writes). ANALYZE runs only on a table that
holds messages: on a new, empty one it would record "no rows" until autovacuum's next look, and
the statements prepared meanwhile plan for an empty table (a batch of 1,000 took seconds).
"""

import importlib

from django.db import migrations

PostgresOnlySQL = importlib.import_module("messaging.migrations.0013_hot_query_indexes").PostgresOnlySQL

SETTLED = "status NOT IN ('queued', 'sending')"


def analyze_if_filled(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM messaging_message)")
        if cursor.fetchone()[0]:
            cursor.execute("ANALYZE messaging_message")


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('messaging', '0018_webhook_endpoints_credentials'),
    ]

    operations = [
        PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        PostgresOnlySQL(
            "CREATE STATISTICS IF NOT EXISTS msg_body_upper_stats ON (UPPER(body)) FROM messaging_message",
            "DROP STATISTICS IF EXISTS msg_body_upper_stats"),
        migrations.RunPython(analyze_if_filled, migrations.RunPython.noop),
        PostgresOnlySQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_body_trgm_settled ON messaging_message "
            f"USING gin (UPPER(body) gin_trgm_ops) WHERE {SETTLED}",
            "DROP INDEX CONCURRENTLY IF EXISTS msg_body_trgm_settled"),
        PostgresOnlySQL(
            "DROP INDEX CONCURRENTLY IF EXISTS msg_body_trgm",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_body_trgm ON messaging_message "
            "USING gin (UPPER(body) gin_trgm_ops)"),
    ]
