"""Several carrier accounts per workspace (…/carriers) and routes by destination prefix
(…/routes), against the fake Twilio and the fake Telnyx over HTTP; and the routing selectors."""

import pytest

from messaging.models import Message
from numbers.models import CarrierRoute, PhoneNumber, ProviderAccount
from numbers.routing import account_for_message, route_for

pytestmark = pytest.mark.django_db


def url(workspace, suffix: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.pk}{suffix}"


@pytest.fixture
def two_carriers(owner_client, workspace, twilio_account, fake_telnyx, telnyx_account):
    twilio = owner_client.post(
        url(workspace, "/carriers"),
        {
            "provider": "twilio",
            "name": "US",
            "account_sid": twilio_account.sid,
            "auth_token": twilio_account.auth_token,
        },
        format="json",
    )
    telnyx = owner_client.post(
        url(workspace, "/carriers"),
        {
            "provider": "telnyx",
            "name": "Europe",
            "api_key": telnyx_account.api_key,
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
        format="json",
    )
    assert (twilio.status_code, telnyx.status_code) == (201, 201), (twilio.json(), telnyx.json())
    return twilio.json(), telnyx.json()


def test_accounts_are_listed_with_settings_and_which_secrets_are_set_never_the_secrets(
    owner_client, workspace, two_carriers, twilio_account, telnyx_account
):
    twilio, telnyx = two_carriers
    assert twilio["id"].startswith("ca_") and twilio["is_primary"] is True
    assert (telnyx["provider"], telnyx["name"], telnyx["is_primary"], telnyx["status"]) == (
        "telnyx",
        "Europe",
        False,
        "active",
    )
    assert twilio["secrets_set"] == {"auth_token": True}
    assert telnyx["secrets_set"] == {"api_key": True}
    assert twilio["settings"]["account_sid"] == twilio_account.sid
    listed = owner_client.get(url(workspace, "/carriers"))
    assert [a["id"] for a in listed.json()["data"]] == [twilio["id"], telnyx["id"]]
    text = listed.content.decode()
    assert twilio_account.auth_token not in text and telnyx_account.api_key not in text
    # …/provider still shows (and is) the primary account.
    assert owner_client.get(url(workspace, "/provider")).json()["provider"] == "twilio"


def test_refused_credentials_add_nothing(owner_client, workspace, two_carriers):
    ProviderAccount.objects.filter(provider="telnyx").delete()
    wrong = owner_client.post(
        url(workspace, "/carriers"),
        {"provider": "telnyx", "api_key": "KEYwrong", "public_key": "A" * 43 + "="},
        format="json",
    )
    assert wrong.status_code == 400
    assert ProviderAccount.objects.filter(workspace=workspace).count() == 1


def test_an_account_can_be_renamed_disabled_made_primary_and_removed(owner_client, workspace, two_carriers):
    twilio, telnyx = two_carriers
    detail = url(workspace, f"/carriers/{telnyx['id']}")
    assert owner_client.patch(detail, {"name": "EU"}, format="json").json()["name"] == "EU"
    refused = owner_client.delete(url(workspace, f"/carriers/{twilio['id']}"))
    assert refused.status_code == 400  # the primary stays
    assert (
        owner_client.patch(
            url(workspace, f"/carriers/{twilio['id']}"), {"status": "disabled"}, format="json"
        ).status_code
        == 400
    )
    made = owner_client.patch(detail, {"is_primary": True}, format="json")
    assert made.json()["is_primary"] is True
    assert owner_client.get(url(workspace, "/provider")).json()["provider"] == "telnyx"
    assert owner_client.post(f"{detail}/test").status_code == 200
    assert owner_client.delete(url(workspace, f"/carriers/{twilio['id']}")).status_code == 204
    assert list(ProviderAccount.objects.values_list("provider", flat=True)) == ["telnyx"]


def test_routes_choose_the_account_and_sender_by_prefix_with_an_optional_fallback(
    owner_client, workspace, two_carriers
):
    twilio, telnyx = two_carriers
    telnyx_account = ProviderAccount.objects.get(uid=telnyx["id"])
    uk_sender = PhoneNumber.objects.create(
        workspace=workspace, phone_number="+447700900123", account=telnyx_account
    )
    made = owner_client.post(
        url(workspace, "/routes"),
        {
            "prefix": "+44",
            "account_id": telnyx["id"],
            "sender_id": uk_sender.id,
            "fallback_account_id": twilio["id"],
        },
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert (made.json()["sender"], made.json()["fallback_account_id"]) == ("+447700900123", twilio["id"])
    route = route_for(workspace=workspace, to="+447700900999")
    assert (route.account.uid, route.sender, route.fallback.uid) == (telnyx["id"], uk_sender, twilio["id"])
    other = route_for(workspace=workspace, to="+14155552671")
    assert (other.account.uid, other.sender, other.rule_id) == (twilio["id"], None, "")
    owner_client.patch(url(workspace, f"/carriers/{telnyx['id']}"), {"status": "disabled"}, format="json")
    assert route_for(workspace=workspace, to="+447700900999").account.uid == twilio["id"]
    message = Message(workspace=workspace, from_number="+447700900123", to_number="+4477")
    assert account_for_message(message).uid == telnyx["id"]
    message.from_number = "+12025550100"
    assert account_for_message(message).uid == twilio["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"prefix": "44", "account_id": "ACCOUNT"},
        {"prefix": "+44x", "account_id": "ACCOUNT"},
        {"prefix": "+44"},
        {"prefix": "+44", "account_id": "ca_nope"},
        {"prefix": "+44", "account_id": "ACCOUNT", "fallback_account_id": "ACCOUNT"},
        {"prefix": "+44", "account_id": "ACCOUNT", "sender_id": "pn_nope"},
        {"prefix": "+44", "account_id": "ACCOUNT", "position": -1},
    ],
)
def test_bad_routes_are_a_4xx_and_store_nothing(owner_client, workspace, two_carriers, body):
    account_id = two_carriers[1]["id"]
    body = {k: (account_id if v == "ACCOUNT" else v) for k, v in body.items()}
    response = owner_client.post(url(workspace, "/routes"), body, format="json")
    assert response.status_code in (400, 404), response.json()
    assert set(response.json()) >= {"error", "detail"}
    assert not CarrierRoute.objects.exists()


def test_another_workspaces_accounts_cannot_be_routed_to(
    owner_client, workspace, other_workspace, two_carriers
):
    theirs = ProviderAccount.objects.create(workspace=other_workspace, provider="simulator")
    response = owner_client.post(
        url(workspace, "/routes"), {"prefix": "+1", "account_id": theirs.uid}, format="json"
    )
    assert response.status_code == 404
    assert owner_client.get(url(workspace, f"/carriers/{theirs.uid}")).status_code == 404
    assert not CarrierRoute.objects.exists()
