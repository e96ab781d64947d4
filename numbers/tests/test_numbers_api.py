"""Numbers API: adding, importing, default switching and removal, against the simulator and the
fake Twilio over HTTP."""

import pytest

from conftest import client_for
from messaging_platform.testing.fake_twilio import FakeNumber, _ApiError
from messaging_platform.testing.fixtures import TWILIO_LONG_CODE, TWILIO_POOL_NUMBER, TWILIO_TOLL_FREE
from numbers.models import PhoneNumber
from numbers.providers.simulator import simulator_numbers
from workspaces.models import Membership

pytestmark = pytest.mark.django_db

# Twilio retries these on timeouts and 5xx: the connection override in the fragment asks it to.
INBOUND = "http://testserver/webhooks/twilio/{}/inbound#rc=5&rp=ct,rt,5xx&tt=15000"
STATUS = "http://testserver/webhooks/twilio/{}/status#rc=5&rp=ct,rt,5xx&tt=15000"


def numbers_url(workspace, suffix: str = "") -> str:
    return f"/api/ui/workspaces/{workspace.pk}/numbers{suffix}"


def connect_twilio(client, workspace, account) -> None:
    body = {"provider": "twilio", "account_sid": account.sid, "auth_token": account.auth_token}
    response = client.put(f"/api/ui/workspaces/{workspace.pk}/provider", body, format="json")
    assert response.status_code == 200, response.json()


def connect_simulator(client, workspace) -> None:
    response = client.put(
        f"/api/ui/workspaces/{workspace.pk}/provider", {"provider": "simulator"}, format="json"
    )
    assert response.status_code == 200


def add(client, workspace, phone_number: str, **extra):
    return client.post(numbers_url(workspace), {"phone_number": phone_number, **extra}, format="json")


@pytest.fixture
def twilio_workspace(owner_client, workspace, twilio_account):
    connect_twilio(owner_client, workspace, twilio_account)
    return workspace


# Adding -----------------------------------------------------------------------------------------


def test_it_adds_a_twilio_number_and_points_its_webhooks_here(owner_client, twilio_workspace, twilio_account):
    response = add(owner_client, twilio_workspace, "+1 (202) 555-0100", friendly_name="Support")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("pn_")
    assert body["phone_number"] == TWILIO_LONG_CODE
    assert body["friendly_name"] == "Support"
    assert body["capabilities"] == {"sms": True, "mms": True, "voice": True}
    assert body["is_default"] is True  # the first number
    assert body["number_type"] == "long_code"
    assert body["created_at"].endswith("Z")
    on_carrier = twilio_account.number(TWILIO_LONG_CODE)
    assert on_carrier.sms_url == INBOUND.format(twilio_workspace.pk)
    assert on_carrier.sms_method == "POST"
    assert on_carrier.status_callback == STATUS.format(twilio_workspace.pk)


def test_capabilities_and_type_are_the_carriers(owner_client, twilio_workspace):
    add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    body = add(owner_client, twilio_workspace, TWILIO_TOLL_FREE).json()
    assert body["capabilities"] == {"sms": True, "mms": False, "voice": False}
    assert body["number_type"] == "toll_free"
    assert body["is_default"] is False  # only the first number becomes the default
    assert body["friendly_name"] == "Toll-free"  # the carrier's name when none is given


def test_it_adds_a_simulator_number_with_no_configuration(owner_client, workspace):
    connect_simulator(owner_client, workspace)
    number = simulator_numbers(workspace.pk)[0]
    response = add(owner_client, workspace, number)
    assert response.status_code == 201, response.json()
    assert response.json()["capabilities"] == {"sms": True, "mms": True, "voice": False}


def test_it_refuses_a_number_that_is_not_on_the_carrier_account(
    owner_client, twilio_workspace, twilio_account
):
    response = add(owner_client, twilio_workspace, "+14155552671")
    assert response.status_code == 400
    assert response.json()["error"] == "number_not_on_account"
    assert not PhoneNumber.objects.exists()


def test_it_needs_a_carrier_account(owner_client, workspace):
    response = add(owner_client, workspace, "+14155552671")
    assert response.status_code == 400
    assert response.json()["error"] == "provider_not_configured"


@pytest.mark.parametrize(
    "phone_number",
    [
        "not a number",
        "12345",
        "+1555",
        "+15551234567",
        "+1" + "9" * 80,
        14155552671,
        ["+12025550100"],
    ],
)
def test_it_refuses_malformed_numbers(owner_client, twilio_workspace, phone_number):
    response = add(owner_client, twilio_workspace, phone_number)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_phone_number"
    assert body["fields"] == {"phone_number": [body["detail"]]}
    assert not PhoneNumber.objects.exists()


def test_a_missing_phone_number_is_a_missing_param(owner_client, twilio_workspace):
    response = owner_client.post(numbers_url(twilio_workspace), {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "missing_params"


@pytest.mark.parametrize("phone_number", ["", None])
def test_a_blank_or_null_phone_number_is_an_invalid_param(owner_client, twilio_workspace, phone_number):
    response = add(owner_client, twilio_workspace, phone_number)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_params"
    assert "phone_number" in response.json()["fields"]


def test_a_number_is_added_once(owner_client, twilio_workspace):
    add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    response = add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    assert response.status_code == 409
    assert response.json()["error"] == "number_already_added"
    assert PhoneNumber.objects.count() == 1


def test_a_number_of_another_workspace_is_unavailable_and_its_webhooks_stay(
    owner_client, outsider_client, twilio_workspace, other_workspace, twilio_account, fake_twilio
):
    connect_twilio(outsider_client, other_workspace, twilio_account)  # the same Twilio account
    assert add(outsider_client, other_workspace, TWILIO_LONG_CODE).status_code == 201
    fake_twilio.reset()
    response = add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    assert response.status_code == 409
    assert response.json()["error"] == "number_unavailable"
    assert twilio_account.number(TWILIO_LONG_CODE).sms_url == INBOUND.format(other_workspace.pk)
    assert not [r for r in fake_twilio.requests if r.method == "POST"]


def test_a_carrier_outage_while_adding_is_a_503_and_saves_nothing(
    owner_client, twilio_workspace, fake_twilio
):
    fake_twilio.down = True
    response = add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    assert not PhoneNumber.objects.exists()


def test_a_failed_webhook_update_saves_nothing(owner_client, twilio_workspace, fake_twilio, twilio_account):
    # The list call succeeds; the update that follows is refused. The fake has no knob for
    # "fail only the update", so its update handler is swapped for this test.
    original = fake_twilio._update_number

    def refuse(number, form):
        raise _ApiError(400, 21606, "The number cannot be configured")

    fake_twilio._update_number = refuse
    try:
        response = add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    finally:
        fake_twilio._update_number = original
    assert response.status_code == 400
    assert response.json()["error"] == "provider_error"
    assert "21606" in response.json()["detail"]
    assert not PhoneNumber.objects.exists()


def test_revoked_credentials_while_adding_are_reported(owner_client, twilio_workspace, twilio_account):
    twilio_account.auth_token = "revoked-on-the-carrier"
    response = add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_credentials"


def test_an_idempotency_key_replays_the_add(owner_client, twilio_workspace):
    headers = {"HTTP_IDEMPOTENCY_KEY": "add-main-line"}
    first = owner_client.post(
        numbers_url(twilio_workspace), {"phone_number": TWILIO_LONG_CODE}, format="json", **headers
    )
    again = owner_client.post(
        numbers_url(twilio_workspace), {"phone_number": TWILIO_LONG_CODE}, format="json", **headers
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    other = owner_client.post(
        numbers_url(twilio_workspace), {"phone_number": TWILIO_TOLL_FREE}, format="json", **headers
    )
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_conflict"
    assert PhoneNumber.objects.count() == 1


# Importing --------------------------------------------------------------------------------------


def test_import_adds_every_carrier_number_and_configures_each(owner_client, twilio_workspace, twilio_account):
    response = owner_client.post(numbers_url(twilio_workspace, "/import"))
    assert response.status_code == 201, response.json()
    body = response.json()
    added = {n["phone_number"]: n for n in body["data"]}
    assert set(added) == {TWILIO_LONG_CODE, TWILIO_TOLL_FREE, TWILIO_POOL_NUMBER}
    assert body["skipped"] == []
    assert sum(n["is_default"] for n in body["data"]) == 1
    for number in added:
        on_carrier = twilio_account.number(number)
        assert on_carrier.sms_url == INBOUND.format(twilio_workspace.pk)
        assert on_carrier.status_callback == STATUS.format(twilio_workspace.pk)
    assert added[TWILIO_TOLL_FREE]["capabilities"] == {"sms": True, "mms": False, "voice": False}


def test_import_skips_and_reports_numbers_owned_elsewhere_or_already_here(
    owner_client, outsider_client, twilio_workspace, other_workspace, twilio_account
):
    connect_twilio(outsider_client, other_workspace, twilio_account)
    add(outsider_client, other_workspace, TWILIO_TOLL_FREE)
    add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    body = owner_client.post(numbers_url(twilio_workspace, "/import")).json()
    assert [n["phone_number"] for n in body["data"]] == [TWILIO_POOL_NUMBER]
    assert body["data"][0]["is_default"] is False  # the workspace has one already
    assert sorted(body["skipped"], key=lambda s: s["phone_number"]) == [
        {"phone_number": TWILIO_LONG_CODE, "reason": "already_in_workspace"},
        {"phone_number": TWILIO_TOLL_FREE, "reason": "number_unavailable"},
    ]
    assert twilio_account.number(TWILIO_TOLL_FREE).sms_url == INBOUND.format(other_workspace.pk)
    assert PhoneNumber.objects.get(phone_number=TWILIO_TOLL_FREE).workspace == other_workspace


def test_import_reads_every_page_of_the_carriers_list(
    owner_client, twilio_workspace, twilio_account, fake_twilio
):
    fake_twilio.max_page_size = 2
    for line in range(2, 7):
        fake_twilio.add_number(twilio_account.sid, FakeNumber(f"+120255501{line:02d}"))
    body = owner_client.post(numbers_url(twilio_workspace, "/import")).json()
    assert len(body["data"]) == 8


def test_a_carrier_failure_part_way_through_an_import_saves_nothing(
    owner_client, twilio_workspace, fake_twilio
):
    # The list and two updates succeed, then the carrier goes down before the third update.
    calls = {"n": 0}
    original = fake_twilio._update_number

    def flaky(number, form):
        calls["n"] += 1
        if calls["n"] == 2:
            fake_twilio.down = True
        return original(number, form)

    fake_twilio._update_number = flaky
    response = owner_client.post(numbers_url(twilio_workspace, "/import"))
    assert response.status_code == 503
    assert response.json()["error"] == "provider_unavailable"
    assert not PhoneNumber.objects.exists()


def test_import_works_with_the_simulator(owner_client, workspace):
    connect_simulator(owner_client, workspace)
    body = owner_client.post(numbers_url(workspace, "/import")).json()
    assert sorted(n["phone_number"] for n in body["data"]) == sorted(simulator_numbers(workspace.pk))
    again = owner_client.post(numbers_url(workspace, "/import")).json()
    assert again["data"] == []
    assert {s["reason"] for s in again["skipped"]} == {"already_in_workspace"}


def test_import_needs_a_carrier_account(owner_client, workspace):
    response = owner_client.post(numbers_url(workspace, "/import"))
    assert response.status_code == 400
    assert response.json()["error"] == "provider_not_configured"


# Listing, default, removal ----------------------------------------------------------------------


@pytest.fixture
def imported(owner_client, twilio_workspace) -> dict[str, str]:
    """The workspace's numbers by E.164 -> id; the long code is the default."""
    add(owner_client, twilio_workspace, TWILIO_LONG_CODE)
    owner_client.post(numbers_url(twilio_workspace, "/import"))
    return dict(PhoneNumber.objects.values_list("phone_number", "id"))


def test_the_list_is_paginated_oldest_first(owner_client, twilio_workspace, imported):
    response = owner_client.get(numbers_url(twilio_workspace), {"limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"currentPage": 1, "totalPages": 2, "totalItems": 3, "hasNext": True}
    assert body["data"][0]["phone_number"] == TWILIO_LONG_CODE
    page_two = owner_client.get(numbers_url(twilio_workspace), {"limit": 2, "page": 2}).json()
    ids = [n["id"] for n in body["data"] + page_two["data"]]
    assert sorted(ids) == sorted(imported.values())
    assert owner_client.get(numbers_url(twilio_workspace), {"limit": 0}).status_code == 400


def test_making_a_number_the_default_unsets_the_previous_one(owner_client, twilio_workspace, imported):
    toll_free = imported[TWILIO_TOLL_FREE]
    response = owner_client.patch(
        numbers_url(twilio_workspace, f"/{toll_free}"), {"is_default": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["is_default"] is True
    defaults = PhoneNumber.objects.filter(is_default=True)
    assert [n.phone_number for n in defaults] == [TWILIO_TOLL_FREE]


def test_the_default_cannot_simply_be_unset(owner_client, twilio_workspace, imported):
    main = imported[TWILIO_LONG_CODE]
    response = owner_client.patch(
        numbers_url(twilio_workspace, f"/{main}"), {"is_default": False}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_params"
    assert PhoneNumber.objects.get(pk=main).is_default


def test_a_numbers_send_rate_defaults_by_type_and_can_be_set_and_reset(
    owner_client, twilio_workspace, imported
):
    main, toll_free = imported[TWILIO_LONG_CODE], imported[TWILIO_TOLL_FREE]
    assert owner_client.get(numbers_url(twilio_workspace, f"/{main}")).json()["send_rate"] == 1.0
    assert owner_client.get(numbers_url(twilio_workspace, f"/{toll_free}")).json()["send_rate"] == 3.0
    url = numbers_url(twilio_workspace, f"/{main}")
    assert owner_client.patch(url, {"send_rate": 12.5}, format="json").json()["send_rate"] == 12.5
    assert PhoneNumber.objects.get(pk=main).send_rate == 12.5
    assert owner_client.patch(url, {"friendly_name": "x"}, format="json").json()["send_rate"] == 12.5
    assert owner_client.patch(url, {"send_rate": None}, format="json").json()["send_rate"] == 1.0
    assert PhoneNumber.objects.get(pk=main).send_rate is None
    for bad in (0, -1, "fast", 10_001):
        assert owner_client.patch(url, {"send_rate": bad}, format="json").status_code == 400


def test_it_renames_a_number(owner_client, twilio_workspace, imported):
    main = imported[TWILIO_LONG_CODE]
    response = owner_client.patch(
        numbers_url(twilio_workspace, f"/{main}"), {"friendly_name": "Front desk"}, format="json"
    )
    assert response.json()["friendly_name"] == "Front desk"
    assert owner_client.get(numbers_url(twilio_workspace, f"/{main}")).json()["friendly_name"] == (
        "Front desk"
    )
    too_long = owner_client.patch(
        numbers_url(twilio_workspace, f"/{main}"), {"friendly_name": "x" * 65}, format="json"
    )
    assert too_long.status_code == 400
    wrong_type = owner_client.patch(
        numbers_url(twilio_workspace, f"/{main}"), {"is_default": "perhaps"}, format="json"
    )
    assert wrong_type.status_code == 400


def test_removing_the_default_hands_it_to_the_oldest_other_number(owner_client, twilio_workspace, imported):
    main = imported[TWILIO_LONG_CODE]
    response = owner_client.delete(numbers_url(twilio_workspace, f"/{main}"))
    assert response.status_code == 204
    assert owner_client.get(numbers_url(twilio_workspace, f"/{main}")).status_code == 404
    remaining = PhoneNumber.objects.order_by("created_at", "id")
    assert len(remaining) == 2
    assert [n.is_default for n in remaining] == [True, False]


def test_a_removed_number_can_be_added_again(owner_client, twilio_workspace, imported):
    owner_client.delete(numbers_url(twilio_workspace, f"/{imported[TWILIO_TOLL_FREE]}"))
    assert add(owner_client, twilio_workspace, TWILIO_TOLL_FREE).status_code == 201


# Who may do what --------------------------------------------------------------------------------


def test_members_can_read_numbers_but_not_change_them(member_client, twilio_workspace, imported):
    main = imported[TWILIO_LONG_CODE]
    assert member_client.get(numbers_url(twilio_workspace)).json()["pagination"]["totalItems"] == 3
    assert member_client.get(numbers_url(twilio_workspace, f"/{main}")).status_code == 200
    for response in (
        add(member_client, twilio_workspace, TWILIO_LONG_CODE),
        member_client.post(numbers_url(twilio_workspace, "/import")),
        member_client.patch(numbers_url(twilio_workspace, f"/{main}"), {"friendly_name": "x"}, format="json"),
        member_client.delete(numbers_url(twilio_workspace, f"/{main}")),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    assert PhoneNumber.objects.count() == 3


def test_admins_manage_numbers(admin_user, twilio_workspace, imported):
    admin = client_for(admin_user)
    response = admin.patch(
        numbers_url(twilio_workspace, f"/{imported[TWILIO_TOLL_FREE]}"), {"is_default": True}, format="json"
    )
    assert response.status_code == 200


def test_outsiders_see_and_change_nothing(outsider_client, other_workspace, twilio_workspace, imported):
    main = imported[TWILIO_LONG_CODE]
    for response in (
        outsider_client.get(numbers_url(twilio_workspace)),
        outsider_client.get(numbers_url(twilio_workspace, f"/{main}")),
        add(outsider_client, twilio_workspace, TWILIO_LONG_CODE),
        outsider_client.delete(numbers_url(twilio_workspace, f"/{main}")),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    # Through their own workspace, another workspace's number id is simply not found.
    for response in (
        outsider_client.get(numbers_url(other_workspace, f"/{main}")),
        outsider_client.patch(numbers_url(other_workspace, f"/{main}"), {"is_default": True}, format="json"),
        outsider_client.delete(numbers_url(other_workspace, f"/{main}")),
    ):
        assert response.status_code == 404
    assert outsider_client.get(numbers_url(other_workspace)).json()["data"] == []
    assert PhoneNumber.objects.filter(workspace=twilio_workspace).count() == 3


def test_removing_a_member_role_takes_effect_at_once(member, member_client, twilio_workspace, imported):
    Membership.objects.filter(user=member).delete()
    assert member_client.get(numbers_url(twilio_workspace)).status_code == 404


# Integrator API ---------------------------------------------------------------------------------


def test_the_integrator_api_lists_only_the_keys_workspace(
    api_client, other_api_client, twilio_workspace, imported
):
    body = api_client.get("/api/numbers").json()
    assert {n["phone_number"] for n in body["data"]} == set(imported)
    assert body["pagination"]["totalItems"] == 3
    main = imported[TWILIO_LONG_CODE]
    one = api_client.get(f"/api/numbers/{main}")
    assert one.status_code == 200
    assert one.json()["is_default"] is True
    assert other_api_client.get("/api/numbers").json()["data"] == []
    missing = other_api_client.get(f"/api/numbers/{main}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"


def test_the_integrator_api_is_read_only(api_client, twilio_workspace):
    response = api_client.post("/api/numbers", {"phone_number": TWILIO_LONG_CODE}, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_the_integrator_api_needs_a_key(owner_client, anon_client):
    assert anon_client.get("/api/numbers").status_code == 401
    assert owner_client.get("/api/numbers").status_code in (401, 403)


def test_the_integrator_sees_its_workspace_settings_without_secrets(
    api_client, workspace, twilio_account, fake_twilio
):
    from numbers.models import PhoneNumber, ProviderAccount

    ProviderAccount.objects.create(
        workspace=workspace,
        provider="twilio",
        account_sid=twilio_account.sid,
        auth_token=twilio_account.auth_token,
    )
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550100", is_default=True)
    response = api_client.get("/api/workspace")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == workspace.id
    assert body["default_number"] == "+12025550100"
    assert body["provider"]["provider"] == "twilio"
    assert body["provider"]["auth_token_set"] is True
    assert body["rate_limit"] == "100/m"
    assert twilio_account.auth_token not in response.content.decode()
