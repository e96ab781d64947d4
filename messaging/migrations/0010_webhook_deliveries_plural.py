from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0009_message_request_id"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="webhookdelivery",
            options={"verbose_name_plural": "webhook deliveries"},
        ),
    ]
