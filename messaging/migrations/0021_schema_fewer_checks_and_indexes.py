"""What every stored message and each of its status changes costs PostgreSQL, made smaller.

- Four foreign keys are no longer checked by the database (the conversation, the broadcast, the
  API key, the sender: Message's comments say why none can dangle); each check cost every stored
  message an index lookup and a row lock at commit. The workspace's and the carrier accounts'
  checks stay.
- Indexes that every row version paid for, for nothing or for little: the direction filter's,
  now inbound messages' only (outbound ones are listed through msg_ws_created); the API key's
  and the sender's, now of the messages that have one; the carrier's message id's unique index,
  now of the messages that have one (most rows have it only from their third version on, the
  rest never). The workspace's own index stays (not in the
  models' state since 0012): a typical workspace's search for a rare string reads it (0.4 ms at
  1 M messages) where without it the planner takes the trigram index (5 ms, and more as the table
  grows).

Without locking the messages table: indexes are made and dropped CONCURRENTLY (so this migration
is not atomic), each new one before the one it replaces, and foreign keys are dropped without
Django's AlterField (which would rebuild them); the reverse adds them back NOT VALID, then
validates them, which blocks no writer. Dropping a constraint holds the table's lock only for an
instant. SQLite (the embedded default) gets the state's own schema changes.
"""

import importlib

from django.conf import settings
from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations, models
import django.db.models.deletion

_hot = importlib.import_module("messaging.migrations.0013_hot_query_indexes")
AddIndexWithoutLocking = _hot.AddIndexWithoutLocking

TABLE = "messaging_message"


class OnPostgres(migrations.SeparateDatabaseAndState):
    """`operation` in the models' state; in the database, `sql` on PostgreSQL (reversed by
    `reverse_sql`) and the operation's own schema change elsewhere."""

    def __init__(self, operation, sql, reverse_sql):
        self.operation, self.sql, self.reverse_sql = operation, sql, reverse_sql
        super().__init__(
            state_operations=[operation], database_operations=[migrations.RunSQL(sql, reverse_sql)]
        )

    def deconstruct(self):
        return self.__class__.__qualname__, [], {
            "operation": self.operation, "sql": self.sql, "reverse_sql": self.reverse_sql}

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)


class RemoveIndexWithoutLocking(RemoveIndexConcurrently):
    """DROP INDEX CONCURRENTLY on PostgreSQL; a plain DROP INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def unchecked(name, field, *, constraint, column, references, index=None):
    """The foreign key `name` made db_constraint=False (and db_index=False): its constraint (and
    its plain index, if any) dropped; the reverse adds it back NOT VALID, then validates it."""
    sql = [f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {constraint}"]
    reverse_sql = [
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {constraint} FOREIGN KEY ({column}) REFERENCES {references} "
        "DEFERRABLE INITIALLY DEFERRED NOT VALID",
        f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {constraint}",
    ]
    if index:
        sql.append(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
        reverse_sql.insert(0, f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {TABLE} ({column})")
    return OnPostgres(migrations.AlterField(model_name="message", name=name, field=field), sql, reverse_sql)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('messaging', '0020_carrier_event_pattern_ops_indexes'),
        ('numbers', '0008_smpp_parts_fewer_indexes'),
        ('workspaces', '0003_account_sid_and_auth_tokens'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The new indexes first: each query has its index all along.
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('direction', 'inbound')), fields=['workspace', '-created_at'],
                               name='msg_ws_inbound'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('api_key__isnull', False)), fields=['api_key'], name='msg_api_key'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('sent_by__isnull', False)), fields=['sent_by'], name='msg_sent_by'),
        ),
        OnPostgres(
            migrations.AddConstraint(
                model_name='message',
                constraint=models.UniqueConstraint(condition=models.Q(('provider_sid__isnull', False)),
                                                   fields=('provider_sid',), name='msg_provider_sid'),
            ),
            [f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS msg_provider_sid ON {TABLE} (provider_sid) "
             "WHERE provider_sid IS NOT NULL"],
            ["DROP INDEX CONCURRENTLY IF EXISTS msg_provider_sid"],
        ),
        OnPostgres(
            migrations.AlterField(
                model_name='message',
                name='provider_sid',
                field=models.CharField(blank=True, max_length=64, null=True),
            ),
            [f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS messaging_message_provider_sid_key"],
            [f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS messaging_message_provider_sid_key "
             f"ON {TABLE} (provider_sid)",
             f"ALTER TABLE {TABLE} ADD CONSTRAINT messaging_message_provider_sid_key "
             "UNIQUE USING INDEX messaging_message_provider_sid_key"],
        ),
        unchecked(
            'api_key',
            models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True,
                              on_delete=django.db.models.deletion.SET_NULL, related_name='+',
                              to='workspaces.apikey'),
            constraint="messaging_message_api_key_id_0ce3a80c_fk_workspaces_apikey_id",
            column="api_key_id", references="workspaces_apikey (id)",
            index="messaging_message_api_key_id_0ce3a80c",
        ),
        unchecked(
            'sent_by',
            models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True,
                              on_delete=django.db.models.deletion.SET_NULL, related_name='+',
                              to=settings.AUTH_USER_MODEL),
            constraint="messaging_message_sent_by_id_3cc2f301_fk_accounts_user_id",
            column="sent_by_id", references="accounts_user (id)",
            index="messaging_message_sent_by_id_3cc2f301",
        ),
        unchecked(
            'broadcast',
            models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True,
                              on_delete=django.db.models.deletion.SET_NULL, related_name='messages',
                              to='messaging.broadcast'),
            constraint="messaging_message_broadcast_id_4e732695_fk_messaging",
            column="broadcast_id", references="messaging_broadcast (id)",
        ),
        unchecked(
            'conversation',
            models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True,
                              on_delete=django.db.models.deletion.SET_NULL, related_name='messages',
                              to='messaging.conversation'),
            constraint="messaging_message_conversation_id_3db4d3d1_fk_messaging",
            column="conversation_id", references="messaging_conversation (id)",
        ),
        RemoveIndexWithoutLocking(model_name='message', name='msg_ws_direction'),
    ]
