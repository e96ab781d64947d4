import django.db.models.deletion
from django.db import migrations, models

import messaging_platform.ids


def fill_uids(apps, schema_editor):
    ProviderAccount = apps.get_model("numbers", "ProviderAccount")
    for account in ProviderAccount.objects.filter(uid__isnull=True):
        account.uid = messaging_platform.ids.new_id("ca")
        account.save(update_fields=["uid"])


class Migration(migrations.Migration):

    dependencies = [
        ("numbers", "0004_provider_account_settings"),
        ("workspaces", "0002_workspace_timezone"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provideraccount",
            name="workspace",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                    related_name="carrier_accounts", to="workspaces.workspace"),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="uid",
            field=models.CharField(max_length=32, null=True, editable=False),
        ),
        migrations.RunPython(fill_uids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="provideraccount",
            name="uid",
            field=models.CharField(default=messaging_platform.ids.IdGenerator("ca"), editable=False,
                                   max_length=32, unique=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="name",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="is_primary",
            field=models.BooleanField(default=True),
        ),
        migrations.AddField(
            model_name="provideraccount",
            name="status",
            field=models.CharField(choices=[("active", "Active"), ("disabled", "Disabled")],
                                   default="active", max_length=10),
        ),
        migrations.AlterModelOptions(
            name="provideraccount",
            options={"ordering": ["-is_primary", "created_at", "pk"]},
        ),
        migrations.AddConstraint(
            model_name="provideraccount",
            constraint=models.UniqueConstraint(condition=models.Q(("is_primary", True)),
                                               fields=("workspace",),
                                               name="one_primary_carrier_account"),
        ),
        migrations.AddConstraint(
            model_name="provideraccount",
            constraint=models.UniqueConstraint(fields=("workspace", "provider"),
                                               name="one_carrier_account_per_provider"),
        ),
        migrations.AddField(
            model_name="phonenumber",
            name="account",
            field=models.ForeignKey(blank=True, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="numbers", to="numbers.provideraccount"),
        ),
        migrations.CreateModel(
            name="CarrierRoute",
            fields=[
                ("id", messaging_platform.ids.PrefixedIdField(editable=False, max_length=32,
                                                              prefix="rt", primary_key=True,
                                                              serialize=False)),
                ("position", models.PositiveIntegerField(default=0)),
                ("prefix", models.CharField(max_length=16)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("account", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                              related_name="+", to="numbers.provideraccount")),
                ("fallback_account", models.ForeignKey(
                    blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                    related_name="+", to="numbers.provideraccount")),
                ("sender", models.ForeignKey(blank=True, null=True,
                                             on_delete=django.db.models.deletion.SET_NULL,
                                             related_name="+", to="numbers.phonenumber")),
                ("workspace", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                                related_name="carrier_routes",
                                                to="workspaces.workspace")),
            ],
            options={"ordering": ["position", "created_at", "id"]},
        ),
    ]
