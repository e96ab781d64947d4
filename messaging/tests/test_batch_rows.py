"""A batch's messages are stored with every column a single send of the same message stores
(a batch's rows go to PostgreSQL as one JSON parameter, a single send's as parameters of their own:
messaging/message_store.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Conversation, Message, MessageEvent
from messaging.tests.conftest import OUR_NUMBER

pytestmark = pytest.mark.django_db

# Differ between two stores of one message, or name them.
IGNORED = {"id", "conversation_id", "created_at", "updated_at", "request_id", "to_number"}


def _columns(message: Message) -> dict:
    return {
        f.attname: getattr(message, f.attname)
        for f in Message._meta.concrete_fields
        if f.attname not in IGNORED
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"body": "plain"},
        {"body": "Ça marche 👍 — ünïcödé", "from": OUR_NUMBER},
        {"body": "a picture", "mediaUrl": ["https://example.com/cat.jpg", "https://example.com/dog.png"]},
        {"body": "later", "scheduled_at": "+1h", "validity_period": 600},
        {"body": "told", "status_callback": "https://93.184.216.34/status?a=1&b=2"},
    ],
    ids=["plain", "unicode-from", "media", "scheduled", "callback"],
)
def test_a_batch_stores_what_a_single_send_stores(api_client, our_number, fields):
    if fields.get("scheduled_at") == "+1h":
        at = (timezone.now() + timedelta(hours=1)).replace(microsecond=123456)
        fields = {**fields, "scheduled_at": at.isoformat()}
    single = api_client.post("/api/messages", {"to": "+14155550100", **fields}, format="json")
    assert single.status_code == 201, single.json()
    batch = api_client.post(
        "/api/messages/batch",
        {"messages": [{"to": "+14155550101", **fields}, {"to": "+14155550102", **fields}]},
        format="json",
    )
    assert batch.status_code == 200
    answers = batch.json()["data"]
    assert [a["status"] for a in answers] == [201, 201], answers
    alone = Message.objects.get(pk=single.json()["id"])
    for answer in answers:
        stored = Message.objects.get(pk=answer["message"]["id"])
        assert _columns(stored) == _columns(alone)
        assert stored.conversation_id == answer["message"]["conversation_id"]
        assert Conversation.objects.get(pk=stored.conversation_id).last_message_id == stored.id
        assert MessageEvent.objects.filter(message=stored, status=stored.status).count() == 1
    assert answers[0]["message"]["media_urls"] == single.json()["media_urls"]
    assert answers[0]["message"]["scheduled_at"] == single.json()["scheduled_at"]


def test_the_messages_of_a_send_are_built_as_the_model_builds_them(workspace, api_key, user):
    api_key = api_key.api_key
    from django.db.models.base import ModelState

    from messaging.sending import _messages_like

    now = timezone.now()
    shared = {"direction": "outbound", "request_id": "req-1", "created_at": now, "updated_at": now}
    rows = [
        {
            "id": f"msg_{n}",
            "status": "queued",
            "to_number": f"+1415555000{n}",
            "body": f"hi {n}",
            "media_urls": [],
            "num_segments": 1,
            "encoding": "GSM-7",
            "carrier_account_id": None,
        }
        for n in range(2)
    ]
    for relations in (
        {"workspace": workspace, "api_key": api_key, "sent_by": None},
        {"workspace": workspace, "api_key": None, "sent_by": user},
    ):
        built = _messages_like(shared, relations, rows)
        for message, row in zip(built, rows, strict=True):
            expected = Message(**shared, **relations, **row)
            assert {k: v for k, v in vars(message).items() if k != "_state"} == {
                k: v for k, v in vars(expected).items() if k != "_state"
            }
            assert isinstance(message._state, ModelState)
            assert message._state.fields_cache == expected._state.fields_cache
            assert (message._state.adding, message._state.db) == (True, None)
        assert built[0].media_urls is not built[1].media_urls
