import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0009_message_request_id"),
        ("numbers", "0006_smpp_parts"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="carrier_account",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                    to="numbers.provideraccount"),
        ),
        migrations.AddField(
            model_name="message",
            name="fallback_account",
            field=models.ForeignKey(blank=True, db_index=False, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                    to="numbers.provideraccount"),
        ),
    ]
