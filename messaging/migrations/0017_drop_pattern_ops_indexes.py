"""Messages, their history and conversations lose the `_like` twins Django adds on PostgreSQL to
every indexed text column (varchar_pattern_ops, for `LIKE 'abc%'`): nothing matches ids or keys by
prefix, and each twin cost every insert (8 of the 35 index entries a broadcast message wrote with
its history row and conversation; bench/campaigns.py). The plain indexes stay. Dropped
concurrently, so the messages table is not locked while it happens.
"""

from django.db import migrations

TWINS = [("message", ["id", "provider_sid", "workspace", "api_key", "sent_by"]),
         ("messageevent", ["message"]), ("conversation", ["id", "last_message"])]


def _pattern_indexes(schema_editor, model, column):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_attribute a ON a.attrelid = t.oid "
            "AND a.attnum = x.indkey[0] WHERE t.relname = %s AND x.indnatts = 1 AND a.attname = %s "
            "AND pg_get_indexdef(x.indexrelid) LIKE '%%pattern_ops%%'",
            [model._meta.db_table, column])
        return [name for (name,) in cursor.fetchall()]


def drop_twins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, field_names in TWINS:
        model = apps.get_model("messaging", model_name)
        for field_name in field_names:
            column = model._meta.get_field(field_name).column
            for name in _pattern_indexes(schema_editor, model, column):
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def make_twins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, field_names in TWINS:
        model = apps.get_model("messaging", model_name)
        for field_name in field_names:
            column = model._meta.get_field(field_name).column
            if not _pattern_indexes(schema_editor, model, column):
                table, q = model._meta.db_table, schema_editor.quote_name
                name = schema_editor._create_index_name(table, [column], suffix="_like")
                schema_editor.execute(
                    f"CREATE INDEX {q(name)} ON {q(table)} ({q(column)} varchar_pattern_ops)")


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ('messaging', '0016_contact_side_indexes'),
    ]

    operations = [migrations.RunPython(drop_twins, make_twins)]
