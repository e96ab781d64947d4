"""Indexes for the hot queries at scale (bench/scale.py, docs/scaling.md), built without locking
the messages table: CREATE INDEX CONCURRENTLY on PostgreSQL, which cannot run in a transaction,
so this migration is not atomic. On SQLite (the embedded default) the claim's index is a plain
one and the trigram indexes, a PostgreSQL extension, are not made.

- msg_queued_created: the claim (messaging.lifecycle.messages_claim_due) takes the oldest queued
  messages first; this walks them in that order instead of sorting every queued row.
- msg_body_trgm, contact_name_trgm: `search` (the body's, the contact's name) is a
  case-insensitive substring match (`UPPER(body) LIKE UPPER('%…%')`), which no b-tree serves;
  pg_trgm's GIN index finds the rows holding the text's trigrams.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexWithoutLocking(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL; a plain CREATE INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class PostgresOnlySQL(migrations.RunSQL):
    """SQL for PostgreSQL only: an extension's index, which SQLite has no use for. It is not part
    of the models' state, so SQLite's table rebuilds never try to make it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('messaging', '0012_broadcast_slices_fewer_indexes'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('status', 'queued')), fields=['created_at'],
                               name='msg_queued_created'),
        ),
        PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop),
        PostgresOnlySQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS msg_body_trgm ON messaging_message "
            "USING gin (UPPER(body) gin_trgm_ops)",
            "DROP INDEX CONCURRENTLY IF EXISTS msg_body_trgm"),
        PostgresOnlySQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS contact_name_trgm ON messaging_contact "
            "USING gin (UPPER(name) gin_trgm_ops)",
            "DROP INDEX CONCURRENTLY IF EXISTS contact_name_trgm"),
    ]
