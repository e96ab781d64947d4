"""The message lists stay fast at scale: on PostgreSQL their queries use the indexes."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conftest import require_service, uses_postgres
from messaging.models import Message
from messaging.selectors import message_list

pytestmark = pytest.mark.django_db

ROWS = 20_000


@pytest.fixture
def many_messages(workspace, other_workspace):
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    rng = random.Random(7)
    now = timezone.now()
    statuses = ["delivered"] * 8 + ["failed", "sent"]
    rows = []
    for n in range(ROWS):
        rows.append(
            Message(
                workspace=workspace if n % 3 else other_workspace,
                direction="outbound" if n % 4 else "inbound",
                status=rng.choice(statuses),
                to_number=f"+1415555{rng.randrange(10000):04d}",
                from_number="+12015550123",
                body=f"Order {n} shipped via carrier {rng.randrange(100)}",
            )
        )
    Message.objects.bulk_create(rows, batch_size=5000)
    Message.objects.filter(pk__in=[m.pk for m in rows[::7]]).update(created_at=now - timedelta(days=3))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    return workspace


def plan(queryset) -> str:
    sql, params = queryset[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "failed"},
        {"direction": "inbound"},
        {"direction": "outbound"},
        {"to": "+14155550042"},
        {"startDate": "2020-01-01"},
        {"search": "carrier 42"},
    ],
)
def test_list_queries_use_an_index_not_a_full_scan(many_messages, filters):
    text = plan(message_list(workspace=many_messages, filters=filters))
    assert "Seq Scan on messaging_message" not in text, text
    assert "Index" in text, text
