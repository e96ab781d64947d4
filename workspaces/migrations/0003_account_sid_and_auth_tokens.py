import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import messaging_platform.crypto
import messaging_platform.ids
import workspaces.models


def give_every_workspace_an_account_sid(apps, schema_editor):
    Workspace = apps.get_model("workspaces", "Workspace")
    for workspace in Workspace.objects.filter(account_sid__isnull=True).only("pk"):
        Workspace.objects.filter(pk=workspace.pk).update(
            account_sid=workspaces.models.new_account_sid())


class Migration(migrations.Migration):

    dependencies = [
        ('workspaces', '0002_workspace_timezone'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Nullable first: a callable default is evaluated once for all existing rows.
        migrations.AddField(
            model_name='workspace',
            name='account_sid',
            field=models.CharField(editable=False, max_length=34, null=True),
        ),
        migrations.RunPython(give_every_workspace_an_account_sid, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='workspace',
            name='account_sid',
            field=models.CharField(default=workspaces.models.new_account_sid, editable=False, max_length=34, unique=True),
        ),
        migrations.CreateModel(
            name='AuthToken',
            fields=[
                ('id', messaging_platform.ids.PrefixedIdField(editable=False, max_length=32, prefix='atk', primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=100)),
                ('prefix', models.CharField(max_length=8)),
                ('token_hash', models.CharField(max_length=64, unique=True)),
                ('token', messaging_platform.crypto.EncryptedTextField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('workspace', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='auth_tokens', to='workspaces.workspace')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
    ]
