"""Routes at send time: a message sent without `from` goes through the account and sender its
destination's route chooses (single and batch sends, the preview), and stores that account and
the route's fallback; several accounts of one carrier; alphanumeric sender ids on SMPP accounts;
MO parts that never completed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import assert_error
from messaging.models import CarrierEvent, Message
from numbers.models import CarrierRoute, PhoneNumber, ProviderAccount, SmppInboundPart
from numbers.providers.smpp import codec
from numbers.providers.smpp.store import expire_inbound_parts

pytestmark = pytest.mark.django_db

US_SENDER, UK_SENDER, UK_SECOND = "+12025550100", "+447700900123", "+447700900124"


@pytest.fixture
def routed(workspace):
    """Two simulator accounts: the primary (US) and UK, with a route for +44 through UK whose
    fallback is the primary."""
    us = ProviderAccount.objects.create(workspace=workspace, provider="simulator", name="US")
    uk = ProviderAccount.objects.create(
        workspace=workspace, provider="simulator", name="UK", is_primary=False
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number=US_SENDER, is_default=True)
    PhoneNumber.objects.create(workspace=workspace, phone_number=UK_SENDER, account=uk)
    PhoneNumber.objects.create(workspace=workspace, phone_number=UK_SECOND, account=uk)
    route = CarrierRoute.objects.create(workspace=workspace, prefix="+44", account=uk, fallback_account=us)
    return {"us": us, "uk": uk, "route": route}


def test_a_send_without_from_goes_through_its_routes_account_and_sender(api_client, routed):
    response = api_client.post("/api/messages", {"to": "+447911123456", "body": "Hi"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["from"] == UK_SENDER  # the account's first number
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.carrier_account, message.fallback_account) == (routed["uk"], routed["us"])

    other = api_client.post("/api/messages", {"to": "+14155552671", "body": "Hi"}, format="json")
    assert other.json()["from"] == US_SENDER
    message = Message.objects.get(pk=other.json()["id"])
    assert (message.carrier_account, message.fallback_account) == (routed["us"], None)


def test_the_routes_own_sender_and_an_explicit_from_win(api_client, routed, workspace):
    routed["route"].sender = PhoneNumber.objects.get(phone_number=UK_SECOND)
    routed["route"].save()
    routed_send = api_client.post("/api/messages", {"to": "+447911123456", "body": "Hi"}, format="json")
    assert routed_send.json()["from"] == UK_SECOND
    explicit = api_client.post(
        "/api/messages", {"to": "+447911123456", "body": "Hi", "from": US_SENDER}, format="json"
    )
    assert explicit.json()["from"] == US_SENDER
    message = Message.objects.get(pk=explicit.json()["id"])
    assert (message.carrier_account, message.fallback_account) == (routed["us"], None)


def test_batch_sends_follow_each_destinations_route(api_client, routed):
    response = api_client.post(
        "/api/messages/batch",
        {
            "messages": [
                {"to": "+447911123457", "body": "one"},
                {"to": "+14155552671", "body": "two"},
                {"to": "+447911123458", "body": "three"},
            ]
        },
        format="json",
    )
    assert response.status_code in (200, 201, 207), response.json()
    froms = {m.to_number: (m.from_number, m.carrier_account_id) for m in Message.objects.all()}
    assert froms == {
        "+447911123457": (UK_SENDER, routed["uk"].pk),
        "+14155552671": (US_SENDER, routed["us"].pk),
        "+447911123458": (UK_SENDER, routed["uk"].pk),
    }


def test_a_route_whose_account_has_no_sender_is_refused_and_stores_nothing(api_client, routed):
    PhoneNumber.objects.filter(account=routed["uk"]).delete()
    response = api_client.post("/api/messages", {"to": "+447911123456", "body": "Hi"}, format="json")
    assert_error(response, 400, "from_number_not_allowed")
    assert not Message.objects.exists()
    preview = api_client.post("/api/messages/preview", {"to": "+447911123456", "body": "Hi"}, format="json")
    assert preview.json()["valid"] is False and "from" in preview.json()["errors"]


def test_a_route_of_a_disabled_account_is_skipped(api_client, routed):
    routed["uk"].status = "disabled"
    routed["uk"].save()
    response = api_client.post("/api/messages", {"to": "+447911123456", "body": "Hi"}, format="json")
    assert response.json()["from"] == US_SENDER
    assert Message.objects.get().carrier_account == routed["us"]


# Several accounts of one carrier ---------------------------------------------------------------


def test_a_second_account_of_a_carrier_has_webhook_urls_naming_it(
    owner_client, workspace, make_twilio_account, client
):
    from messaging_platform.testing.twilio_params import inbound_params, signature_headers
    from numbers.selectors import webhook_urls

    first, second = make_twilio_account(), make_twilio_account()
    made = [
        owner_client.post(
            f"/api/ui/workspaces/{workspace.pk}/carriers",
            {"provider": "twilio", "account_sid": a.sid, "auth_token": a.auth_token},
            format="json",
        )
        for a in (first, second)
    ]
    assert [m.status_code for m in made] == [201, 201], [m.json() for m in made]
    primary, other = (ProviderAccount.objects.get(uid=m.json()["id"]) for m in made)
    inbound, status = webhook_urls(workspace=workspace, account=other)
    assert inbound.endswith(f"/webhooks/twilio/{workspace.pk}/inbound?account={other.uid}")
    assert status.endswith(f"?account={other.uid}")
    # The primary's URLs stay as numbers configured at Twilio know them.
    assert webhook_urls(workspace=workspace, account=primary)[0].endswith(
        f"/webhooks/twilio/{workspace.pk}/inbound"
    )

    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550177", account=other)
    params = inbound_params(from_number="+14155552671", to_number="+12025550177", body="Hello")
    path = f"/webhooks/twilio/{workspace.pk}/inbound?account={other.uid}"
    signed = signature_headers("http://testserver" + path, params, second.auth_token)
    assert client.post(path, params, headers=signed).status_code == 200
    # Signed by the second account but sent to the primary's URL: not the primary's signature.
    plain = f"/webhooks/twilio/{workspace.pk}/inbound"
    forged = signature_headers("http://testserver" + plain, params, second.auth_token)
    assert client.post(plain, params, headers=forged).status_code == 403
    # The primary's signature on the second account's number: not that account's number.
    by_primary = signature_headers("http://testserver" + plain, params, first.auth_token)
    assert client.post(plain, params, headers=by_primary).status_code == 404
    assert CarrierEvent.objects.count() == 1


# Alphanumeric sender ids -------------------------------------------------------------------


@pytest.fixture
def smpp_second(workspace):
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    return ProviderAccount.objects.create(
        workspace=workspace,
        provider="smpp",
        is_primary=False,
        auth_token="pw",
        settings={"host": "127.0.0.1", "port": 2775, "system_id": "acme"},
    )


def test_an_alphanumeric_sender_is_added_to_an_smpp_account_only(owner_client, workspace, smpp_second):
    numbers = f"/api/ui/workspaces/{workspace.pk}/numbers"
    added = owner_client.post(
        numbers, {"phone_number": "ACME Shop", "account_id": smpp_second.uid}, format="json"
    )
    assert added.status_code == 201, added.json()
    assert (added.json()["phone_number"], added.json()["account_id"]) == ("ACME Shop", smpp_second.uid)
    # The simulator (the primary) sends from numbers only.
    refused = owner_client.post(numbers, {"phone_number": "ACME"}, format="json")
    assert_error(refused, 400, "invalid_phone_number")
    for bad in ("ACME-SHOP-LONGER", "AC/ME", "", "12345678901234567"):
        response = owner_client.post(
            numbers, {"phone_number": bad, "account_id": smpp_second.uid}, format="json"
        )
        assert response.status_code == 400, bad
    assert list(PhoneNumber.objects.values_list("phone_number", flat=True)) == ["ACME Shop"]


def test_a_message_from_an_alphanumeric_sender_is_accepted_and_addressed_as_one(
    api_client, workspace, smpp_second
):
    PhoneNumber.objects.create(workspace=workspace, phone_number="ACME", account=smpp_second)
    response = api_client.post(
        "/api/messages", {"to": "+14155552671", "body": "Hi", "from": "ACME"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["from"] == "ACME"
    assert Message.objects.get().carrier_account == smpp_second
    assert codec.sender_address("ACME") == (5, 0, "ACME")  # TON alphanumeric, NPI unknown


# MO parts that never completed ------------------------------------------------------------


def test_incomplete_mo_parts_are_taken_in_as_they_are_after_the_bound(workspace, settings, smpp_second):
    settings.SMPP_MO_PARTS_MAX_AGE_SECONDS = 600
    common = {"account": smpp_second, "source": "+14155552671", "destination": "+12025550188", "total": 3}
    SmppInboundPart.objects.create(reference=7, index=1, text="Hello, ", **common)
    SmppInboundPart.objects.create(reference=7, index=3, text="the end", **common)
    SmppInboundPart.objects.create(reference=8, index=1, text="still arriving", **common)
    old = timezone.now() - timedelta(seconds=601)
    SmppInboundPart.objects.filter(reference=7).update(received_at=old)
    assert expire_inbound_parts() == 1
    event = CarrierEvent.objects.get()
    assert (event.kind, event.params["From"], event.params["To"]) == (
        "inbound",
        "+14155552671",
        "+12025550188",
    )
    assert event.params["Body"] == "Hello,  … the end"
    assert list(SmppInboundPart.objects.values_list("reference", flat=True)) == [8]
    assert expire_inbound_parts() == 0  # nothing twice


# The failover's change ---------------------------------------------------------------------


def test_a_failover_is_one_guarded_change_told_as_message_failed_over(
    workspace, routed, monkeypatch, django_capture_on_commit_callbacks
):
    from messaging import events, lifecycle

    published = []
    monkeypatch.setattr(events, "publish_events", lambda ws, evs: published.append((ws, evs)))
    message = Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status="sending",
        to_number="+447911123456",
        from_number=UK_SENDER,
        carrier_account=routed["uk"],
        fallback_account=routed["us"],
        attempts=1,
    )
    item = lifecycle.FailOver(
        message.id, routed["us"].pk, US_SENDER, "", "20503", "UK did not take it; failed over."
    )
    with django_capture_on_commit_callbacks(execute=True):
        [moved] = lifecycle.messages_fail_over([item])
    assert (
        moved.status,
        moved.from_number,
        moved.carrier_account_id,
        moved.fallback_account_id,
        moved.attempts,
    ) == ("queued", US_SENDER, routed["us"].pk, None, 0)
    [(workspace_id, [event])] = published
    assert (workspace_id, event["type"]) == (workspace.pk, "message.failed_over")
    assert (event["data"]["id"], event["data"]["from"], event["data"]["status"]) == (
        message.id,
        US_SENDER,
        "queued",
    )
    # Once only: the fallback is used up, and a message not `sending` is left alone.
    Message.objects.filter(pk=message.pk).update(status="sending")
    assert lifecycle.messages_fail_over([item]) == []
