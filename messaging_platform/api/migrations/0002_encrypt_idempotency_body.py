from django.db import migrations

import messaging_platform.crypto


def forget_records(apps, schema_editor):
    # Records are a 24-hour replay cache; the old plaintext ones are simply dropped.
    apps.get_model("api", "IdempotencyRecord").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [
        migrations.RunPython(forget_records, migrations.RunPython.noop),
        migrations.RemoveField(model_name="idempotencyrecord", name="body"),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="body",
            field=messaging_platform.crypto.EncryptedTextField(default=""),
            preserve_default=False,
        ),
    ]
