"""The carrier account API, against the simulator and the fake Twilio over HTTP."""

import pytest

from numbers.models import ProviderAccount

pytestmark = pytest.mark.django_db


def url(workspace, suffix: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.pk}/provider{suffix}"


def twilio_body(account, **overrides) -> dict:
    return {"provider": "twilio", "account_sid": account.sid, "auth_token": account.auth_token, **overrides}


def test_a_workspace_without_an_account_answers_the_same_shape_with_a_null_provider(owner_client, workspace):
    response = owner_client.get(url(workspace))
    assert response.status_code == 200
    assert response.json() == {
        "provider": None,
        "account_sid": None,
        "messaging_service_sid": None,
        "auth_token_set": False,
        "settings": {},
        "updated_at": None,
    }


def test_the_simulator_needs_no_credentials(owner_client, workspace):
    response = owner_client.put(url(workspace), {"provider": "simulator"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "simulator"
    assert body["auth_token_set"] is False
    assert body["updated_at"].endswith("Z")
    assert owner_client.get(url(workspace)).json() == body


def test_it_saves_twilio_credentials_the_carrier_accepts(owner_client, workspace, twilio_account):
    service_sid = next(iter(twilio_account.services))
    response = owner_client.put(
        url(workspace), twilio_body(twilio_account, messaging_service_sid=service_sid), format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json() | {"updated_at": None} == {
        "provider": "twilio",
        "account_sid": twilio_account.sid,
        "messaging_service_sid": service_sid,
        "auth_token_set": True,
        "settings": {},
        "updated_at": None,
    }
    stored = ProviderAccount.objects.get(workspace=workspace)
    assert stored.auth_token == twilio_account.auth_token


def test_it_refuses_credentials_the_carrier_refuses_and_saves_nothing(
    owner_client, workspace, twilio_account
):
    response = owner_client.put(
        url(workspace), twilio_body(twilio_account, auth_token="wrong" * 6), format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"
    assert not ProviderAccount.objects.exists()


def test_an_unknown_account_sid_is_refused_like_a_wrong_token(owner_client, workspace, fake_twilio):
    body = {"provider": "twilio", "account_sid": "AC" + "a" * 32, "auth_token": "x" * 32}
    response = owner_client.put(url(workspace), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"


def test_a_carrier_outage_during_the_check_is_a_503_and_saves_nothing(
    owner_client, workspace, twilio_account, fake_twilio
):
    fake_twilio.down = True
    response = owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    assert response["Retry-After"]
    assert not ProviderAccount.objects.exists()


def test_a_carrier_that_times_out_is_a_503(owner_client, workspace, twilio_account, fake_twilio, settings):
    settings.TWILIO_HTTP_TIMEOUT = 0.3
    fake_twilio.slow, fake_twilio.slow_seconds = True, 2
    response = owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    assert not ProviderAccount.objects.exists()


def test_a_failed_update_keeps_the_previous_account(
    owner_client, workspace, twilio_account, make_twilio_account
):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    other = make_twilio_account()
    response = owner_client.put(url(workspace), twilio_body(other, auth_token="nope" * 8), format="json")
    assert response.status_code == 400
    stored = ProviderAccount.objects.get(workspace=workspace)
    assert (stored.account_sid, stored.auth_token) == (twilio_account.sid, twilio_account.auth_token)


def test_an_omitted_auth_token_keeps_the_stored_one_for_the_same_account(
    owner_client, workspace, twilio_account, fake_twilio
):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    service_sid = next(iter(twilio_account.services))
    body = {"provider": "twilio", "account_sid": twilio_account.sid, "messaging_service_sid": service_sid}
    response = owner_client.put(url(workspace), body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["messaging_service_sid"] == service_sid
    assert ProviderAccount.objects.get().auth_token == twilio_account.auth_token


def test_a_new_account_sid_needs_its_auth_token(owner_client, workspace, twilio_account, make_twilio_account):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    other = make_twilio_account()
    response = owner_client.put(
        url(workspace), {"provider": "twilio", "account_sid": other.sid}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "missing_params"
    assert ProviderAccount.objects.get().account_sid == twilio_account.sid


@pytest.mark.parametrize(
    "body, error",
    [
        ({}, "missing_params"),
        ({"provider": "twilio", "auth_token": "x" * 32}, "missing_params"),
        ({"provider": "twilio", "account_sid": "AC" + "0" * 32}, "missing_params"),
        ({"provider": "carrier-pigeon"}, "invalid_params"),
        ({"provider": "twilio", "account_sid": "AC123", "auth_token": "x"}, "invalid_params"),
        ({"provider": "twilio", "account_sid": "XX" + "0" * 32, "auth_token": "x"}, "invalid_params"),
        ({"provider": "twilio", "account_sid": "AC" + "g" * 32, "auth_token": "x"}, "invalid_params"),
        (
            {
                "provider": "twilio",
                "account_sid": "AC" + "0" * 32,
                "auth_token": "x",
                "messaging_service_sid": "MG123",
            },
            "invalid_params",
        ),
        ({"provider": "twilio", "account_sid": ["AC" + "0" * 32], "auth_token": "x"}, "invalid_params"),
    ],
)
def test_it_refuses_malformed_settings(owner_client, workspace, body, error):
    response = owner_client.put(url(workspace), body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert not ProviderAccount.objects.exists()


def test_switching_to_the_simulator_forgets_the_twilio_credentials(owner_client, workspace, twilio_account):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    response = owner_client.put(url(workspace), {"provider": "simulator"}, format="json")
    assert response.json()["auth_token_set"] is False
    stored = ProviderAccount.objects.get()
    assert (stored.provider, stored.account_sid, stored.auth_token) == ("simulator", "", "")


# Test the credentials ---------------------------------------------------------------------------


def test_the_test_call_answers_the_carrier_account(owner_client, workspace, twilio_account):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    response = owner_client.post(url(workspace, "/test"))
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "account": {
            "sid": twilio_account.sid,
            "friendly_name": twilio_account.friendly_name,
            "status": "active",
        },
    }


def test_the_test_call_reports_credentials_revoked_since(owner_client, workspace, twilio_account):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    twilio_account.auth_token = "rotated-on-the-carrier-side"
    response = owner_client.post(url(workspace, "/test"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"
    assert set(response.json()) == {"error", "detail"}


def test_the_test_call_reports_a_carrier_outage(owner_client, workspace, twilio_account, fake_twilio):
    owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    fake_twilio.fail_next(3, status=500)
    response = owner_client.post(url(workspace, "/test"))
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"


def test_the_test_call_works_for_the_simulator(owner_client, workspace):
    owner_client.put(url(workspace), {"provider": "simulator"}, format="json")
    response = owner_client.post(url(workspace, "/test"))
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_the_test_call_needs_an_account(owner_client, workspace):
    response = owner_client.post(url(workspace, "/test"))
    assert response.status_code == 400
    assert response.json()["error"] == "provider_not_configured"


# Who may do what --------------------------------------------------------------------------------


def test_members_can_read_but_not_change_the_account(owner_client, member_client, workspace):
    owner_client.put(url(workspace), {"provider": "simulator"}, format="json")
    assert member_client.get(url(workspace)).json()["provider"] == "simulator"
    for response in (
        member_client.put(url(workspace), {"provider": "simulator"}, format="json"),
        member_client.post(url(workspace, "/test")),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"


def test_admins_can_change_the_account(admin_user, workspace):
    from conftest import client_for

    response = client_for(admin_user).put(url(workspace), {"provider": "simulator"}, format="json")
    assert response.status_code == 200


def test_outsiders_see_nothing(outsider_client, owner_client, workspace):
    owner_client.put(url(workspace), {"provider": "simulator"}, format="json")
    for response in (
        outsider_client.get(url(workspace)),
        outsider_client.put(url(workspace), {"provider": "simulator"}, format="json"),
        outsider_client.post(url(workspace, "/test")),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_it_needs_a_session(anon_client, api_client, workspace):
    assert anon_client.get(url(workspace)).status_code == 401
    assert api_client.get(url(workspace)).status_code in (401, 403)  # API keys are not sessions


def test_the_carriers_retry_after_is_passed_on(owner_client, workspace, twilio_account, fake_twilio):
    fake_twilio.fail_next(status=429, retry_after=0.5)
    response = owner_client.put(url(workspace), twilio_body(twilio_account), format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"


def telnyx_body(fake, account, **overrides) -> dict:
    return {
        "provider": "telnyx",
        "api_key": account.api_key,
        "public_key": fake.public_key,
        "messaging_profile_id": account.messaging_profile_id,
        **overrides,
    }


def test_it_saves_a_telnyx_account_the_carrier_accepts_and_never_shows_its_key(
    owner_client, workspace, fake_telnyx, telnyx_account
):
    response = owner_client.put(url(workspace), telnyx_body(fake_telnyx, telnyx_account), format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["provider"], body["auth_token_set"]) == ("telnyx", True)
    assert body["settings"] == {
        "public_key": fake_telnyx.public_key,
        "messaging_profile_id": telnyx_account.messaging_profile_id,
    }
    assert telnyx_account.api_key not in response.content.decode()
    stored = ProviderAccount.objects.get(workspace=workspace)
    assert stored.auth_token == telnyx_account.api_key
    assert owner_client.post(url(workspace, "/test")).status_code == 200
    # The key may be omitted for the same account: the stored one is kept.
    again = owner_client.put(
        url(workspace), telnyx_body(fake_telnyx, telnyx_account, api_key=""), format="json"
    )
    assert again.status_code == 200
    assert ProviderAccount.objects.get(workspace=workspace).auth_token == telnyx_account.api_key


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"api_key": "KEYnotknown"}, None),
        ({"public_key": "not-a-key"}, "public_key"),
        ({"public_key": "AAAA"}, "public_key"),
        ({"public_key": ""}, "public_key"),
        ({"messaging_profile_id": "../x"}, "messaging_profile_id"),
    ],
)
def test_a_refused_or_malformed_telnyx_account_saves_nothing(
    owner_client, workspace, fake_telnyx, telnyx_account, overrides, field
):
    response = owner_client.put(
        url(workspace), telnyx_body(fake_telnyx, telnyx_account, **overrides), format="json"
    )
    assert response.status_code == 400, response.json()
    if field:
        assert field in response.json()["fields"]
    else:
        assert response.json()["error"] == "invalid_credentials"
        assert "KEYnotknown" not in response.content.decode()
    assert not ProviderAccount.objects.filter(workspace=workspace).exists()
