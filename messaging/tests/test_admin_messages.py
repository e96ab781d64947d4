"""The admin's message list: newest first, with the status in view."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.utils import unquote
from django.test import Client
from django.utils import timezone

from accounts.models import User
from messaging.models import Direction, Message, Status

pytestmark = pytest.mark.django_db


def test_the_admin_lists_messages_newest_first_with_their_status(workspace):
    now = timezone.now()
    made = []
    for minutes, status in ((30, Status.DELIVERED), (10, Status.FAILED), (20, Status.SENT)):
        message = Message.objects.create(
            workspace=workspace,
            direction=Direction.OUTBOUND,
            status=status,
            to_number="+14155552671",
            body="hi",
        )
        Message.objects.filter(pk=message.pk).update(created_at=now - timedelta(minutes=minutes))
        made.append(message.pk)
    admin = Client()
    admin.force_login(User.objects.create_superuser(email="root@example.com", password="x" * 12, name="Root"))
    page = admin.get("/admin/messaging/message/").content.decode()
    listed = [unquote(pk) for pk in re.findall(r"/admin/messaging/message/([^/]+)/change/", page)]
    assert list(dict.fromkeys(listed)) == [made[1], made[2], made[0]]
    assert "Failed" in page and "Delivered" in page
