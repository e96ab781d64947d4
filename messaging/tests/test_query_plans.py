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
CONTACTS = 100_000  # enough that the workspace's rows cost more to test than the index


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


def test_a_contacts_search_by_digits_reads_the_numbers_trigram_index(workspace, other_workspace):
    """Three digits or more look the numbers up in `contact_ws_phone_trgm` (messaging.0026), as
    the names are looked up in theirs, instead of testing every contact of the workspace."""
    require_service("PostgreSQL (DATABASE_URL)", uses_postgres())
    from messaging.contacts import contact_list
    from messaging.models import Contact

    Contact.objects.bulk_create(
        (
            Contact(
                workspace=workspace if n % 10 else other_workspace,
                phone_number=f"+1415{n:07d}",
                name=f"Contact {n}" if n % 3 == 0 else "",
            )
            for n in range(CONTACTS)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_contact")
        # A table this small is read whole faster; at scale the index wins (bench/scale.py).
        cursor.execute("SET LOCAL enable_seqscan = off")
    found = contact_list(workspace=workspace, search="0012345")
    text = plan(found)
    assert "contact_ws_phone_trgm" in text, text
    assert "Seq Scan on messaging_contact" not in text, text
    assert [c.phone_number for c in found] == ["+14150012345"]
