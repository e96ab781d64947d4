"""Carrier events lose the `_like` twins of their id, message, provider_sid and workspace indexes,
as messages did in 0017: nothing looks them up by prefix, and every status callback and inbound
webhook stored paid four index entries more. Dropped concurrently: the table is never locked.
"""

import importlib

from django.db import migrations

_pattern_indexes = importlib.import_module("messaging.migrations.0017_drop_pattern_ops_indexes")._pattern_indexes

FIELDS = ["id", "message", "provider_sid", "workspace"]


def drop_twins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("messaging", "carrierevent")
    for field_name in FIELDS:
        for name in _pattern_indexes(schema_editor, model, model._meta.get_field(field_name).column):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def make_twins(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("messaging", "carrierevent")
    table, q = model._meta.db_table, schema_editor.quote_name
    for field_name in FIELDS:
        column = model._meta.get_field(field_name).column
        if not _pattern_indexes(schema_editor, model, column):
            name = schema_editor._create_index_name(table, [column], suffix="_like")
            schema_editor.execute(f"CREATE INDEX CONCURRENTLY {q(name)} ON {q(table)} ({q(column)} varchar_pattern_ops)")


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("messaging", "0019_message_body_trigram_settled"),
    ]

    operations = [migrations.RunPython(drop_twins, make_twins)]
