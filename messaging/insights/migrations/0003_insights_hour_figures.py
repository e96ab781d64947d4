"""The figures stored on the rolled rows of the totals' hours (rollup.store_hour_figures): the
columns (added without rewriting the table), then the figures of the rows rolled up before, in
batches of ids, each its own transaction, so that counting never waits long. Until a row has
them its hour is read from its bins, as before."""

from django.db import migrations, models, transaction

BATCH = 20_000  # ids per transaction


def store_rolled_hours_figures(apps, schema_editor):
    from messaging.insights.rollup import store_hour_figures

    counts = apps.get_model("insights", "InsightCount")
    last = counts.objects.aggregate(last=models.Max("id"))["last"] or 0
    for low in range(0, last + 1, BATCH):
        with transaction.atomic():
            store_hour_figures("id >= %s AND id < %s AND NOT figured", [low, low + BATCH])


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('insights', '0002_count_roll_up_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='insightcount',
            name='figured',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='insightcount',
            name='median_seconds',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='insightcount',
            name='p95_seconds',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.RunPython(store_rolled_hours_figures, migrations.RunPython.noop, elidable=True),
    ]
