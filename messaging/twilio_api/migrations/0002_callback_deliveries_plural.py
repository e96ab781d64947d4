from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("twilio_api", "0001_twilio_compat"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="callbackdelivery",
            options={"verbose_name_plural": "callback deliveries"},
        ),
    ]
