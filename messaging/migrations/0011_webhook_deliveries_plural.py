from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0010_message_carrier_account"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="webhookdelivery",
            options={"verbose_name_plural": "webhook deliveries"},
        ),
    ]
