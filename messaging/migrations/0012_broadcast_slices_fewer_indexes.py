import django.db.models.deletion
from django.db import migrations, models


def slices_for_broadcasts_under_way(apps, schema_editor):
    """A broadcast being made when this runs goes on from its cursor, as one slice."""
    Broadcast = apps.get_model("messaging", "Broadcast")
    BroadcastSlice = apps.get_model("messaging", "BroadcastSlice")
    BroadcastSlice.objects.bulk_create([
        BroadcastSlice(broadcast_id=pk, seq=0, after=cursor, cursor=cursor)
        for pk, cursor in Broadcast.objects.filter(status="sending", generated=False)
        .values_list("pk", "cursor")])


# The messages' own workspace index stays: counting a workspace's messages (a list's totalItems)
# and a typical workspace's search read it rather than a wider composite one (bench/scale.py).
UNINDEXED = [("conversation", "workspace"), ("message", "broadcast"), ("message", "conversation")]


def drop_single_column_indexes(apps, schema_editor):
    """The plain indexes of each column alone (the foreign key's index and its _like twin)."""
    connection = schema_editor.connection
    for model_name, field_name in UNINDEXED:
        model = apps.get_model("messaging", model_name)
        column = model._meta.get_field(field_name).column
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, model._meta.db_table)
        for name, info in found.items():
            if (info["index"] and info["columns"] == [column] and not info["unique"]
                    and not info["primary_key"]):
                schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_single_column_indexes(apps, schema_editor):
    for model_name, field_name in UNINDEXED:
        model = apps.get_model("messaging", model_name)
        field = model._meta.get_field(field_name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        like = getattr(schema_editor, "_create_like_index_sql", None)
        if like is not None and (sql := like(model, field)) is not None:
            schema_editor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0011_webhook_deliveries_plural'),
    ]

    operations = [
        migrations.CreateModel(
            name='BroadcastSlice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField()),
                ('after', models.CharField(blank=True, max_length=32)),
                ('last', models.CharField(blank=True, max_length=32)),
                ('cursor', models.CharField(blank=True, max_length=32)),
                ('done', models.BooleanField(default=False)),
                ('broadcast', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='slices', to='messaging.broadcast')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('broadcast', 'seq'), name='one_slice_per_seq')],
            },
        ),
        migrations.RunPython(slices_for_broadcasts_under_way, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='broadcast',
            name='cursor',
        ),
        # Foreign keys whose lookups composite indexes already serve: their own indexes (and
        # their _like twins) only cost every insert. Only the indexes go: the constraints stay
        # (AlterField would drop and re-add them, checking every row again).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='conversation',
                    name='workspace',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='conversations', to='workspaces.workspace'),
                ),
                migrations.AlterField(
                    model_name='message',
                    name='broadcast',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='messages', to='messaging.broadcast'),
                ),
                migrations.AlterField(
                    model_name='message',
                    name='conversation',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='messages', to='messaging.conversation'),
                ),
                migrations.AlterField(
                    model_name='message',
                    name='workspace',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='workspaces.workspace'),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_single_column_indexes, create_single_column_indexes),
            ],
        ),
    ]
