"""The roll-up's index (messaging/insights/rollup.py): the rows of the live slots, those it has
still to fold. Built without locking the counts (which the lifecycle writes in every status
change): CREATE INDEX CONCURRENTLY on PostgreSQL, which cannot run in a transaction; a plain one
on SQLite. After an upgrade the first runs of the roll-up fold every past hour."""

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


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('insights', '0001_initial'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='insightcount',
            index=models.Index(condition=models.Q(('slot', 16), _negated=True), fields=['bucket'],
                               name='insight_count_to_roll_up'),
        ),
    ]
