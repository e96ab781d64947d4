"""The carrier-account and route pages over HTTP (Django's test client): the API's rules and
services behind them, admins only, secrets write-only, another workspace's accounts a 404, every
change in the audit log."""

import pytest
from django.test import Client

from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SYSTEM_ID
from numbers.models import CarrierRoute, ProviderAccount
from numbers.services import carrier_account_add, provider_account_set
from workspaces.audit.models import AuditRecord

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def base(workspace) -> str:
    return f"/w/{workspace.pk}/settings"


def smpp_form(smsc, **overrides) -> dict:
    data = {
        "name": "Operator",
        "host": "127.0.0.1",
        "port": str(smsc.port),
        "system_id": SMPP_SYSTEM_ID,
        "password": SMPP_PASSWORD,
        "system_type": "",
        "throughput": "25",
        "uncertain_submits": "resend",
        "senders": "+12025550188\nACME",
    }
    data.update(overrides)
    return data


def test_an_smpp_account_is_added_with_the_apis_rules_and_its_password_never_shown(
    user, workspace, fake_smsc
):
    provider_account_set(workspace=workspace, provider="simulator")
    client = client_for(user)
    url = f"{base(workspace)}/carrier/new/smpp/"
    refused = client.post(url, smpp_form(fake_smsc, port="70000", password="123456789"))
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Ensure this value is less than or equal to 65535." in text
    assert "Ensure this field has no more than 8 characters." in text
    assert "123456789" not in text
    assert not ProviderAccount.objects.filter(provider="smpp").exists()

    saved = client.post(url, smpp_form(fake_smsc, tls=""))
    assert saved.status_code == 302
    account = ProviderAccount.objects.get(provider="smpp")
    assert account.name == "Operator" and not account.is_primary
    assert account.settings["senders"] == ["+12025550188", "ACME"]
    assert account.settings["throughput"] == 25 and account.settings["tls"] is False
    page = client.get(f"{base(workspace)}/carrier/").content.decode()
    assert SMPP_PASSWORD not in page and account.uid in page
    edit = client.get(f"{base(workspace)}/carrier/{account.uid}/edit/").content.decode()
    assert SMPP_PASSWORD not in edit and "Set (stored encrypted)" in edit
    record = AuditRecord.objects.get(kind="carrier_account.added")
    assert record.changes["host"] == "127.0.0.1" and record.changes["auth_token"] == "[changed]"


def test_a_kept_password_never_goes_to_another_smsc(user, workspace, fake_smsc):
    account = carrier_account_add(
        workspace=workspace,
        provider="smpp",
        name="A",
        password=SMPP_PASSWORD,
        host="127.0.0.1",
        port=fake_smsc.port,
        system_id=SMPP_SYSTEM_ID,
    )
    client = client_for(user)
    url = f"{base(workspace)}/carrier/{account.uid}/edit/"
    moved = client.post(url, smpp_form(fake_smsc, host="localhost", password=""))
    assert moved.status_code == 400
    assert "Required for a new SMSC or system_id." in moved.content.decode()
    account.refresh_from_db()
    assert account.settings["host"] == "127.0.0.1"
    # Same SMSC: the stored password is kept and checked by a bind.
    kept = client.post(url, smpp_form(fake_smsc, password="", throughput="", name="B"))
    assert kept.status_code == 302
    account.refresh_from_db()
    assert account.name == "B" and account.auth_token == SMPP_PASSWORD
    assert "throughput" not in account.settings


def test_a_twilio_account_is_tested_and_a_new_sid_needs_its_token(
    user, workspace, fake_twilio, make_twilio_account
):
    provider_account_set(workspace=workspace, provider="simulator")
    twilio = make_twilio_account()
    client = client_for(user)
    added = client.post(
        f"{base(workspace)}/carrier/new/twilio/",
        {"name": "US", "account_sid": twilio.sid, "auth_token": twilio.auth_token},
    )
    assert added.status_code == 302
    account = ProviderAccount.objects.get(provider="twilio")
    tested = client.post(f"{base(workspace)}/carrier/{account.uid}/test", follow=True)
    assert "US: Connection works:" in tested.content.decode()
    other = make_twilio_account()
    refused = client.post(
        f"{base(workspace)}/carrier/{account.uid}/edit/",
        {"name": "US", "account_sid": other.sid, "auth_token": ""},
    )
    assert refused.status_code == 400 and "Required for a new Account SID." in refused.content.decode()
    assert twilio.auth_token not in refused.content.decode()


def test_primary_disable_and_remove_follow_the_services_rules(user, workspace):
    provider_account_set(workspace=workspace, provider="simulator")
    primary = ProviderAccount.objects.get(workspace=workspace)
    client = client_for(user)
    page = f"{base(workspace)}/carrier/"
    response = client.post(f"{page}{primary.uid}/remove", follow=True)
    assert "The primary account cannot be removed." in response.content.decode()
    response = client.post(f"{page}{primary.uid}/change", {"action": "disable"}, follow=True)
    assert "The primary account cannot be disabled." in response.content.decode()
    assert ProviderAccount.objects.get(pk=primary.pk).status == "active"


def test_members_see_the_accounts_but_no_form_and_change_nothing(user, member, workspace):
    provider_account_set(workspace=workspace, provider="simulator")
    account = ProviderAccount.objects.get(workspace=workspace)
    client = client_for(member)
    page = client.get(f"{base(workspace)}/carrier/").content.decode()
    assert account.uid in page and "Test connection<span" not in page
    assert client.get(f"{base(workspace)}/carrier/new/smpp/").status_code == 403
    assert client.get(f"{base(workspace)}/carrier/{account.uid}/edit/").status_code == 403
    assert client.post(f"{base(workspace)}/carrier/{account.uid}/test").status_code == 403
    assert (
        client.post(f"{base(workspace)}/routes/", {"prefix": "+44", "account_id": account.uid}).status_code
        == 403
    )
    assert not CarrierRoute.objects.exists()


def test_another_workspaces_accounts_and_routes_are_not_found(user, workspace, other_workspace):
    provider_account_set(workspace=other_workspace, provider="simulator")
    theirs = ProviderAccount.objects.get(workspace=other_workspace)
    route = CarrierRoute.objects.create(workspace=other_workspace, prefix="+44", account=theirs)
    client = client_for(user)
    assert client.get(f"{base(workspace)}/carrier/{theirs.uid}/edit/").status_code == 404
    assert client.post(f"{base(workspace)}/carrier/{theirs.uid}/remove").status_code == 404
    assert client.post(f"{base(workspace)}/routes/{route.id}/remove").status_code == 404
    assert (
        client.post(f"{base(workspace)}/routes/", {"prefix": "+44", "account_id": theirs.uid}).status_code
        == 400
    )  # not one of ours
    assert CarrierRoute.objects.count() == 1
    assert ProviderAccount.objects.filter(pk=theirs.pk).exists()


def test_a_telnyx_account_is_added_edited_and_tested_with_its_key_kept(
    user, workspace, fake_telnyx, telnyx_account
):
    client = client_for(user)
    url = f"{base(workspace)}/carrier/new/telnyx/"
    refused = client.post(
        url, {"name": "Telnyx EU", "api_key": telnyx_account.api_key, "public_key": "not a key"}
    )
    assert refused.status_code == 400
    assert "An Ed25519 public key is 32 bytes in base64." in refused.content.decode()
    assert telnyx_account.api_key not in refused.content.decode()
    added = client.post(
        url,
        {
            "name": "Telnyx EU",
            "api_key": telnyx_account.api_key,
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
    )
    assert added.status_code == 302
    account = ProviderAccount.objects.get(provider="telnyx")
    assert account.is_primary  # the workspace's first account
    # Renamed with the key field left empty: the stored key is kept.
    edited = client.post(
        f"{base(workspace)}/carrier/{account.uid}/edit/",
        {
            "name": "Telnyx",
            "api_key": "",
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
    )
    assert edited.status_code == 302
    account.refresh_from_db()
    assert account.name == "Telnyx" and account.auth_token == telnyx_account.api_key
    tested = client.post(f"{base(workspace)}/carrier/{account.uid}/test", follow=True)
    assert "Telnyx: Connection works:" in tested.content.decode()
    page = client.get(f"{base(workspace)}/carrier/").content.decode()
    assert telnyx_account.api_key not in page


def test_a_simulator_account_is_added_with_only_a_name(user, workspace):
    client = client_for(user)
    assert client.post(f"{base(workspace)}/carrier/new/simulator/", {"name": "Try"}).status_code == 302
    account = ProviderAccount.objects.get(workspace=workspace)
    assert account.provider == "simulator" and account.name == "Try" and account.is_primary
    assert client.get(f"{base(workspace)}/carrier/new/fax/").status_code == 404
