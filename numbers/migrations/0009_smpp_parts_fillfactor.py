"""SMSC parts are written full (`submitted`, with the SMSC's id) and changed once, by their
receipt (status, error, receipt_at: no indexed column). With pages filled to half the receipt's
new row version finds room on its own page and is a heap-only (HOT) update: it writes none of the
table's five index entries. Only pages written from now on are filled so; the ALTER takes a SHARE
UPDATE EXCLUSIVE lock (reads and writes go on). SQLite has no such setting.
"""

from django.db import migrations

FILLFACTOR = 50


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE numbers_smpppart SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE numbers_smpppart RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("numbers", "0008_smpp_parts_fewer_indexes")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
