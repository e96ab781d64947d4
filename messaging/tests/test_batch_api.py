"""POST /api/messages/batch: up to 1,000 sends in one request, each answered on its own."""

import pytest

from conftest import assert_error
from messaging.models import Conversation, Message, MessageEvent, OptOut, Status
from messaging.tests.conftest import CONTACT, OUR_NUMBER

pytestmark = pytest.mark.django_db

URL = "/api/messages/batch"


@pytest.fixture
def batch(api_client, our_number, django_capture_on_commit_callbacks):
    """POST a batch as the integrator, running what happens after commit (the worker)."""

    def post(messages, headers: dict | None = None, client=None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or api_client).post(URL, {"messages": messages}, format="json", **(headers or {}))

    return post


def contacts(n: int) -> list[str]:
    return [f"+1415555{2000 + i:04d}" for i in range(n)]


def test_every_accepted_message_of_a_batch_is_delivered(batch):
    response = batch([{"to": to, "body": f"Hello {to}"} for to in contacts(25)])
    assert response.status_code == 200
    data = response.json()["data"]
    assert [item["index"] for item in data] == list(range(25))
    assert {item["status"] for item in data} == {201}
    assert data[3]["message"]["to"] == contacts(25)[3]
    assert data[3]["message"]["from"] == OUR_NUMBER
    ids = [item["message"]["id"] for item in data]
    assert Message.objects.filter(pk__in=ids, status=Status.DELIVERED).count() == 25
    statuses = list(MessageEvent.objects.filter(message_id=ids[0]).values_list("status", flat=True))
    assert statuses == ["queued", "sending", "sent", "delivered"]


def test_each_message_is_validated_on_its_own_and_the_valid_ones_are_sent(batch, workspace):
    OptOut.objects.create(workspace=workspace, phone_number="+14155550199", keyword="STOP")
    response = batch(
        [
            {"to": CONTACT, "body": "fine"},
            {"to": "not a number", "body": "bad number"},
            {"body": "no recipient"},
            {"to": "+14155550199", "body": "opted out"},
            {"to": CONTACT, "body": "wrong sender", "from": "+13125550100"},
            "not an object",
            {"to": CONTACT, "body": "x" * 1601},
            {"to": CONTACT, "body": "also fine"},
        ]
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(d["status"], d.get("error", {}).get("error")) for d in data] == [
        (201, None),
        (400, "invalid_phone_number"),
        (400, "missing_params"),
        (400, "recipient_opted_out"),
        (400, "from_number_not_allowed"),
        (400, "invalid_params"),
        (400, "invalid_params"),
        (201, None),
    ]
    for item in data:
        if item["status"] != 201:
            assert set(item["error"]) <= {"error", "detail", "fields"} and item["error"]["detail"]
            assert "message" not in item
    assert sorted(Message.objects.values_list("body", flat=True)) == ["also fine", "fine"]
    assert Message.objects.filter(status=Status.DELIVERED).count() == 2


def test_two_messages_to_one_contact_share_a_conversation_with_the_last_one_latest(batch):
    data = batch([{"to": CONTACT, "body": "first"}, {"to": CONTACT, "body": "second"}]).json()["data"]
    [conversation] = Conversation.objects.all()
    assert conversation.last_message_id == data[1]["message"]["id"]
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_the_batch_itself_must_be_a_list_of_1_to_1000(api_client, our_number):
    assert_error(api_client.post(URL, {}, format="json"), 400, "missing_params")
    assert_error(api_client.post(URL, {"messages": "hi"}, format="json"), 400, "missing_params")
    assert_error(api_client.post(URL, {"messages": []}, format="json"), 400, "invalid_params")
    too_many = [{"to": CONTACT, "body": "x"}] * 1001
    assert_error(api_client.post(URL, {"messages": too_many}, format="json"), 400, "invalid_params")
    assert_error(api_client.post(URL, [{"to": CONTACT}], format="json"), 400, "missing_params")
    assert not Message.objects.exists()


def test_a_workspace_without_a_carrier_account_is_refused_as_a_whole(api_client):
    response = api_client.post(URL, {"messages": [{"to": CONTACT, "body": "x"}]}, format="json")
    assert_error(response, 400, "provider_not_configured")


def test_the_idempotency_key_covers_the_whole_batch(batch):
    messages = [{"to": to, "body": "once"} for to in contacts(3)]
    first = batch(messages, headers={"HTTP_IDEMPOTENCY_KEY": "campaign-7"})
    again = batch(messages, headers={"HTTP_IDEMPOTENCY_KEY": "campaign-7"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 3
    other = batch(messages[:2], headers={"HTTP_IDEMPOTENCY_KEY": "campaign-7"})
    assert_error(other, 409, "idempotency_conflict")
    assert Message.objects.count() == 3


def test_another_workspace_cannot_send_from_my_numbers_or_see_the_batch(
    batch, other_api_client, other_number
):
    mine = batch([{"to": CONTACT, "body": "mine"}]).json()["data"][0]["message"]["id"]
    theirs = batch(
        [{"to": CONTACT, "body": "sneaky", "from": OUR_NUMBER}, {"to": CONTACT, "body": "theirs"}],
        client=other_api_client,
    ).json()["data"]
    assert theirs[0]["status"] == 400
    assert theirs[0]["error"]["error"] == "from_number_not_allowed"
    assert theirs[1]["status"] == 201
    assert theirs[1]["message"]["from"] == other_number.phone_number
    assert other_api_client.get(f"/api/messages/{mine}").status_code == 404
    assert Message.objects.filter(from_number=OUR_NUMBER).count() == 1
    assert Message.objects.get(pk=theirs[1]["message"]["id"]).workspace_id == other_number.workspace_id


def test_a_thousand_messages_are_accepted_in_one_request_with_one_wake_up(
    api_client, our_number, django_capture_on_commit_callbacks, monkeypatch
):
    wake_ups: list[list[str]] = []
    monkeypatch.setattr("messaging.wakeup.wake", lambda **kw: wake_ups.append(list(kw["message_ids"])))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            URL, {"messages": [{"to": to, "body": "bulk"} for to in contacts(1000)]}, format="json"
        )
    assert response.status_code == 200
    assert {item["status"] for item in response.json()["data"]} == {201}
    assert Message.objects.filter(status=Status.QUEUED).count() == 1000
    [woken] = wake_ups  # the delivery engine is woken once for the whole batch
    assert sorted(woken) == sorted(Message.objects.values_list("pk", flat=True))
