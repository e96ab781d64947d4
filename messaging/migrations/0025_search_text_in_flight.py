"""Every message's `search_text` kept from its insert, the messages in flight included; the
trigram index still holds only the settled ones (its predicate is now their status).

A search tests the messages in flight (`queued`, `sending`) one by one through `msg_ws_status`:
UPPER(body) of each was most of a rare string's search and half a common word's in a workspace
with a backlog (at 10 million messages, 10,000 in flight took 15.7 ms; the stored column 6 ms).
The insert trigger now fires for every message (about 2 µs a row), and an update calls it only
when the body changes; the claim and the settling call nothing. A claim (`queued` → `sending`)
still writes nothing into the trigram index, since neither status is in its predicate.

The new trigger first, so every message written from then on has its text; then the rows
without one (in flight, or settled while the triggers changed) are filled in batches by primary
key; then the new index is built concurrently and the old one dropped concurrently, so the
messages table is never locked for longer than a catalog change. PostgreSQL only.
"""

import importlib

from django.db import migrations

PostgresOnlySQL = importlib.import_module("messaging.migrations.0013_hot_query_indexes").PostgresOnlySQL
analyze_if_filled = importlib.import_module(
    "messaging.migrations.0019_message_body_trigram_settled"
).analyze_if_filled
settled_only = importlib.import_module("messaging.migrations.0024_message_search_text")

IN_FLIGHT = "('queued', 'sending')"
BATCH = 5000

FUNCTION = (
    "CREATE OR REPLACE FUNCTION messaging_message_search_text() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN NEW.search_text := UPPER(NEW.body); RETURN NEW; END $$"
)
TRIGGERS = [
    "CREATE OR REPLACE TRIGGER messaging_message_search_text_insert BEFORE INSERT ON messaging_message "
    "FOR EACH ROW EXECUTE FUNCTION messaging_message_search_text()",
    "CREATE OR REPLACE TRIGGER messaging_message_search_text_update BEFORE UPDATE OF body "
    "ON messaging_message FOR EACH ROW WHEN (NEW.body IS DISTINCT FROM OLD.body) "
    "EXECUTE FUNCTION messaging_message_search_text()",
]


def fill(apps, schema_editor):
    """The search_text of every message without one, BATCH rows by primary key at a time."""
    if schema_editor.connection.vendor != "postgresql":
        return
    after = ""
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(
                "WITH batch AS (SELECT id FROM messaging_message WHERE id > %s ORDER BY id LIMIT %s), "
                "filled AS (UPDATE messaging_message m SET search_text = UPPER(m.body) FROM batch "
                "WHERE m.id = batch.id AND m.search_text IS NULL) "
                "SELECT max(id) FROM batch",
                [after, BATCH],
            )
            last = cursor.fetchone()[0]
            if last is None:
                return
            after = last


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction; nor can the batches

    dependencies = [
        ("messaging", "0024_message_search_text"),
    ]

    operations = [
        PostgresOnlySQL([FUNCTION, *TRIGGERS], [settled_only.FUNCTION, *settled_only.TRIGGERS]),
        migrations.RunPython(fill, migrations.RunPython.noop),
        PostgresOnlySQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_search_text_settled ON messaging_message "
            f"USING gin (search_text gin_trgm_ops) WHERE status NOT IN {IN_FLIGHT}",
            "DROP INDEX CONCURRENTLY IF EXISTS msg_search_text_settled",
        ),
        PostgresOnlySQL(
            "DROP INDEX CONCURRENTLY IF EXISTS msg_search_text_trgm",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_search_text_trgm ON messaging_message "
            "USING gin (search_text gin_trgm_ops) WHERE search_text IS NOT NULL",
        ),
        migrations.RunPython(analyze_if_filled, migrations.RunPython.noop),
    ]
