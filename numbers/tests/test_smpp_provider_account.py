"""Setting up an SMPP account in one call: PUT …/provider binds and unbinds before saving; the
password is write-only and encrypted at rest; bad input is a 400 that saves nothing."""

import pytest

from conftest import all_rows_text, assert_error
from messaging_platform.testing.fixtures import SMPP_PASSWORD, SMPP_SYSTEM_ID
from numbers.models import ProviderAccount

pytestmark = pytest.mark.django_db


def url(workspace, suffix=""):
    return f"/api/ui/workspaces/{workspace.pk}/provider{suffix}"


def smpp_body(smsc, **overrides):
    body = {
        "provider": "smpp",
        "host": "127.0.0.1",
        "port": smsc.port,
        "system_id": SMPP_SYSTEM_ID,
        "password": SMPP_PASSWORD,
        "system_type": "SMS",
        "throughput": 50,
        "senders": ["+12025550188", "ACME"],
    }
    body.update(overrides)
    return body


def test_put_binds_unbinds_and_saves_the_account(owner_client, workspace, fake_smsc):
    response = owner_client.put(url(workspace), smpp_body(fake_smsc), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["provider"] == "smpp" and body["auth_token_set"] is True
    assert body["smpp"] == {
        "host": "127.0.0.1",
        "port": fake_smsc.port,
        "system_id": SMPP_SYSTEM_ID,
        "system_type": "SMS",
        "tls": False,
        "throughput": 50.0,
        "uncertain_submits": "resend",
        "senders": ["+12025550188", "ACME"],
        "password_set": True,
    }
    assert SMPP_PASSWORD not in response.content.decode()
    assert fake_smsc.binds == [(SMPP_SYSTEM_ID, "bind_transceiver", "SMS")]
    assert fake_smsc.wait_for(lambda: fake_smsc.unbinds == 1)
    stored = ProviderAccount.objects.get(workspace=workspace)
    assert stored.auth_token == SMPP_PASSWORD
    assert SMPP_PASSWORD not in all_rows_text()  # encrypted at rest

    # "Test connection" binds and unbinds again with the stored password.
    response = owner_client.post(url(workspace, "/test"))
    assert response.status_code == 200, response.content
    assert response.json()["account"]["sid"] == SMPP_SYSTEM_ID
    assert fake_smsc.wait_for(lambda: fake_smsc.unbinds == 2)


def test_an_omitted_password_keeps_the_stored_one_for_the_same_smsc(owner_client, workspace, fake_smsc):
    assert owner_client.put(url(workspace), smpp_body(fake_smsc), format="json").status_code == 200
    body = smpp_body(fake_smsc, throughput=None, uncertain_submits="fail")
    del body["password"]
    response = owner_client.put(url(workspace), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["smpp"]["uncertain_submits"] == "fail"
    body["system_id"] = "someone"
    assert_error(owner_client.put(url(workspace), body, format="json"), 400, "missing_params")


def test_a_wrong_password_is_refused_and_nothing_saved(owner_client, workspace, fake_smsc):
    response = owner_client.put(url(workspace), smpp_body(fake_smsc, password="wrong"), format="json")
    body = assert_error(response, 400, "invalid_credentials")
    assert "ESME_RINVPASWD" in body["detail"] and "wrong" not in body["detail"]
    assert not ProviderAccount.objects.exists()


def test_an_unreachable_smsc_is_a_503_and_nothing_saved(owner_client, workspace, fake_smsc):
    port = fake_smsc.port
    fake_smsc.stop()
    response = owner_client.put(url(workspace), smpp_body(fake_smsc, port=port), format="json")
    assert_error(response, 503, "provider_unavailable")
    assert not ProviderAccount.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"host": ""},
        {"host": "bad host/"},
        {"port": 0},
        {"port": 70000},
        {"port": "abc"},
        {"system_id": "x" * 16},
        {"password": "123456789"},
        {"system_type": "t" * 13},
        {"throughput": 0},
        {"throughput": "fast"},
        {"tls": "maybe"},
        {"uncertain_submits": "twice"},
        {"senders": ["not a valid sender id"]},
        {"system_id": "nul\u0000"},
        {"password": "é"},
    ],
)
def test_bad_input_is_a_400_that_saves_nothing(owner_client, workspace, fake_smsc, overrides):
    response = owner_client.put(url(workspace), smpp_body(fake_smsc, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"error", "detail", "fields"}
    assert not ProviderAccount.objects.exists()
    assert fake_smsc.binds == []


def test_a_member_cannot_set_it(member_client, workspace, fake_smsc):
    response = member_client.put(url(workspace), smpp_body(fake_smsc), format="json")
    assert response.status_code == 403
    assert not ProviderAccount.objects.exists()


def test_switching_to_the_simulator_drops_the_smpp_settings(owner_client, workspace, fake_smsc):
    assert owner_client.put(url(workspace), smpp_body(fake_smsc), format="json").status_code == 200
    assert owner_client.put(url(workspace), {"provider": "simulator"}, format="json").status_code == 200
    stored = ProviderAccount.objects.get(workspace=workspace)
    assert (stored.settings, stored.auth_token) == ({}, "")


def test_an_smpp_account_added_beside_the_primary_one(owner_client, workspace, fake_smsc):
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    response = owner_client.post(
        url(workspace).replace("/provider", "/carriers"),
        {**smpp_body(fake_smsc), "name": "SMSC"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["provider"], body["is_primary"], body["name"]) == ("smpp", False, "SMSC")
    assert body["secrets_set"] == {"password": True}
    assert body["settings"]["host"] == "127.0.0.1" and body["settings"]["system_id"] == SMPP_SYSTEM_ID
    assert SMPP_PASSWORD not in response.content.decode()
    assert fake_smsc.binds == [(SMPP_SYSTEM_ID, "bind_transceiver", "SMS")]  # checked by a bind
    stored = ProviderAccount.objects.get(workspace=workspace, provider="smpp")
    assert stored.auth_token == SMPP_PASSWORD


def test_an_smpp_account_without_a_password_is_refused(owner_client, workspace, fake_smsc):
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    body = smpp_body(fake_smsc)
    del body["password"]
    response = owner_client.post(url(workspace).replace("/provider", "/carriers"), body, format="json")
    assert_error(response, 400, "missing_params")
    assert not ProviderAccount.objects.filter(workspace=workspace, provider="smpp").exists()
    assert fake_smsc.binds == []


def test_a_host_that_does_not_resolve_is_a_400_and_nothing_saved(owner_client, workspace, fake_smsc):
    body = {**smpp_body(fake_smsc), "host": "no-such-smsc.invalid"}
    response = owner_client.put(url(workspace), body, format="json")
    assert_error(response, 400, "provider_error")
    assert not ProviderAccount.objects.exists()
