import django.db.models.deletion
from django.db import migrations, models


def _count() -> models.BigIntegerField:
    return models.BigIntegerField(default=0)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('workspaces', '0002_workspace_timezone'),
    ]

    operations = [
        migrations.CreateModel(
            name='InsightCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('daily', models.BooleanField(default=False)),
                ('bucket', models.DateTimeField()),
                ('dimension', models.CharField(blank=True, choices=[('', 'Totals'), ('sender', 'Sender'), ('carrier', 'Carrier account'), ('country', 'Destination country'), ('error_code', 'Error code')], max_length=10)),
                ('key', models.CharField(blank=True, max_length=80)),
                ('slot', models.PositiveSmallIntegerField(default=0)),
                ('sent', _count()),
                ('delivered', _count()),
                ('failed', _count()),
                ('undelivered', _count()),
                ('received', _count()),
                ('opt_outs', _count()),
                *[(f'lat_{i:02d}', _count()) for i in range(20)],
                ('workspace', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.workspace')),
            ],
            options={
                'db_table': 'insights_count',
                'constraints': [models.UniqueConstraint(fields=('workspace', 'daily', 'dimension', 'bucket', 'key', 'slot'), name='one_insight_count_per_key')],
            },
        ),
    ]
