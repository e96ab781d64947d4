"""The contact's side of the `from` and `to` filters, for counting them (messaging.list_counts):
inbound messages by sender, outbound ones by recipient. Built without locking the messages table."""

from django.db import migrations, models

import importlib

AddIndexWithoutLocking = importlib.import_module("messaging.migrations.0013_hot_query_indexes").AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('messaging', '0015_list_counts'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('direction', 'inbound')),
                               fields=['workspace', 'from_number', 'created_at'], name='msg_ws_contact_from'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('direction', 'outbound')),
                               fields=['workspace', 'to_number', 'created_at'], name='msg_ws_contact_to'),
        ),
    ]
