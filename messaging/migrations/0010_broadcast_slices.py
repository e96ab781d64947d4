import django.db.models.deletion
from django.db import migrations, models


def slices_for_broadcasts_under_way(apps, schema_editor):
    """A broadcast being made when this runs goes on from its cursor, as one slice."""
    Broadcast = apps.get_model("messaging", "Broadcast")
    BroadcastSlice = apps.get_model("messaging", "BroadcastSlice")
    BroadcastSlice.objects.bulk_create([
        BroadcastSlice(broadcast_id=pk, seq=0, after=cursor, cursor=cursor)
        for pk, cursor in Broadcast.objects.filter(status="sending", generated=False)
        .values_list("pk", "cursor")])


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0009_message_request_id'),
    ]

    operations = [
        migrations.CreateModel(
            name='BroadcastSlice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveIntegerField()),
                ('after', models.CharField(blank=True, max_length=32)),
                ('last', models.CharField(blank=True, max_length=32)),
                ('cursor', models.CharField(blank=True, max_length=32)),
                ('done', models.BooleanField(default=False)),
                ('broadcast', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='slices', to='messaging.broadcast')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('broadcast', 'seq'), name='one_slice_per_seq')],
            },
        ),
        migrations.RunPython(slices_for_broadcasts_under_way, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='broadcast',
            name='cursor',
        ),
    ]
