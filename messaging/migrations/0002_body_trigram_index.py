"""On PostgreSQL, a trigram index makes `search` (body ILIKE '%…%') fast at millions of rows.

Creating the pg_trgm extension needs a privileged role; where it cannot be created the index is
skipped (search still works, by scanning the workspace's messages).
"""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            return
        cursor.execute("SAVEPOINT trgm")
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:
            cursor.execute("ROLLBACK TO SAVEPOINT trgm")
            return
        cursor.execute(
            "CREATE INDEX IF NOT EXISTS msg_body_trgm ON messaging_message "
            "USING gin (upper(body) gin_trgm_ops)"  # Django's icontains is UPPER(body) LIKE
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS msg_body_trgm")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
