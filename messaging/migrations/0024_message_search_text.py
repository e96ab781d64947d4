"""A message's body as `search` compares it (UPPER(body)), kept by the database in the column
`search_text` once the message has settled (left `queued`/`sending`), with the trigram index on
that column instead of on UPPER(body).

A common word's search walks the workspace's newest messages and tests each body; UPPER() of
each body was three quarters of that work (at 10 million messages, page 20 of a word in one
message in ten read 35,000 rows). The column is written once, when the message settles: a
trigger fires on an insert of a settled message and on the update that settles one (or changes a
body), evaluated by its WHEN clause in the executor, so the accept, the claim and `sent` →
`delivered` call no function at all. A message in flight has no `search_text` (or its text from
an earlier settling, when retried) and is found by `msg_ws_status` as before
(messaging.selectors.message_list); a body changed while in flight clears it.

The column is not a model field: Django never writes or reads it, only the search's expression
names it. Added without a default (no table rewrite), filled in batches by primary key (each its
own transaction, so no long lock), the new index built concurrently and the old one dropped
concurrently: the messages table is never locked for longer than the ALTER's catalog change.
PostgreSQL only; SQLite (the embedded default) searches UPPER(body) directly.
"""

import importlib

from django.db import migrations

PostgresOnlySQL = importlib.import_module("messaging.migrations.0013_hot_query_indexes").PostgresOnlySQL
analyze_if_filled = importlib.import_module(
    "messaging.migrations.0019_message_body_trigram_settled"
).analyze_if_filled

IN_FLIGHT = "('queued', 'sending')"
BATCH = 5000

FUNCTION = (
    "CREATE OR REPLACE FUNCTION messaging_message_search_text() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN NEW.search_text := CASE WHEN NEW.status IN {IN_FLIGHT} THEN NULL ELSE UPPER(NEW.body) END; "
    "RETURN NEW; END $$"
)
TRIGGERS = [
    "CREATE OR REPLACE TRIGGER messaging_message_search_text_insert BEFORE INSERT ON messaging_message "
    f"FOR EACH ROW WHEN (NEW.status NOT IN {IN_FLIGHT}) EXECUTE FUNCTION messaging_message_search_text()",
    "CREATE OR REPLACE TRIGGER messaging_message_search_text_update BEFORE UPDATE OF status, body "
    "ON messaging_message FOR EACH ROW WHEN ("
    f"(OLD.search_text IS NULL AND NEW.status NOT IN {IN_FLIGHT}) OR NEW.body IS DISTINCT FROM OLD.body) "
    "EXECUTE FUNCTION messaging_message_search_text()",
]
UNINSTALL = [
    "DROP TRIGGER IF EXISTS messaging_message_search_text_update ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_search_text_insert ON messaging_message",
    "DROP FUNCTION IF EXISTS messaging_message_search_text()",
]


def fill(apps, schema_editor):
    """The settled messages' search_text, BATCH rows by primary key at a time (the trigger keeps
    every message written from here on)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    after = ""
    with schema_editor.connection.cursor() as cursor:
        while True:
            cursor.execute(
                "WITH batch AS (SELECT id FROM messaging_message WHERE id > %s ORDER BY id LIMIT %s), "
                "filled AS (UPDATE messaging_message m SET search_text = UPPER(m.body) FROM batch "
                f"WHERE m.id = batch.id AND m.search_text IS NULL AND m.status NOT IN {IN_FLIGHT}) "
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
        ("messaging", "0023_message_carrier_account_indexes"),
    ]

    operations = [
        PostgresOnlySQL(
            "ALTER TABLE messaging_message ADD COLUMN IF NOT EXISTS search_text text",
            "ALTER TABLE messaging_message DROP COLUMN IF EXISTS search_text",
        ),
        PostgresOnlySQL([FUNCTION, *TRIGGERS], UNINSTALL),
        migrations.RunPython(fill, migrations.RunPython.noop),
        PostgresOnlySQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_search_text_trgm ON messaging_message "
            "USING gin (search_text gin_trgm_ops) WHERE search_text IS NOT NULL",
            "DROP INDEX CONCURRENTLY IF EXISTS msg_search_text_trgm",
        ),
        PostgresOnlySQL(
            "DROP INDEX CONCURRENTLY IF EXISTS msg_body_trgm_settled",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_body_trgm_settled ON messaging_message "
            f"USING gin (UPPER(body) gin_trgm_ops) WHERE status NOT IN {IN_FLIGHT}",
        ),
        migrations.RunPython(analyze_if_filled, migrations.RunPython.noop),
    ]
