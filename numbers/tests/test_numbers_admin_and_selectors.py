"""The numbers admin pages, and the selectors the messaging app reuses."""

import pytest
from django.contrib.admin.utils import quote as admin_quote

from numbers import selectors, services
from numbers.models import PhoneNumber, ProviderAccount
from numbers.providers.simulator import simulator_numbers

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulated(workspace):
    services.provider_account_set(workspace=workspace, provider="simulator")
    services.numbers_import(workspace=workspace)
    return workspace


@pytest.fixture
def operator_client(client, make_user):
    operator = make_user("operator@example.com")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    client.force_login(operator)
    return client


def test_the_default_sender_is_the_first_number_until_another_is_chosen(simulated):
    first, second = simulator_numbers(simulated.pk)
    assert selectors.default_sender(workspace=simulated).phone_number == first
    services.number_update(number=PhoneNumber.objects.get(phone_number=second), is_default=True)
    assert selectors.default_sender(workspace=simulated).phone_number == second


def test_a_workspace_without_numbers_has_no_default_sender(workspace):
    assert selectors.default_sender(workspace=workspace) is None
    assert selectors.workspace_provider_account(workspace=workspace) is None


def test_numbers_are_found_by_e164_only_within_their_workspace(simulated, other_workspace):
    number = simulator_numbers(simulated.pk)[0]
    assert selectors.workspace_number_by_e164(workspace=simulated, phone_number=number)
    assert selectors.workspace_number_by_e164(workspace=other_workspace, phone_number=number) is None
    assert selectors.number_owner(phone_number=number).workspace == simulated
    assert selectors.number_owner(phone_number="+14155552671") is None


def test_webhook_urls_are_built_from_the_public_base_url(workspace, settings):
    settings.PUBLIC_BASE_URL = "https://sms.example.com"
    ProviderAccount.objects.create(
        workspace=workspace, provider="twilio", account_sid="AC" + "1" * 32, auth_token="t" * 32
    )
    assert selectors.inbound_webhook_url(workspace=workspace) == (
        f"https://sms.example.com/webhooks/twilio/{workspace.pk}/inbound"
    )
    assert selectors.status_webhook_url(workspace=workspace) == (
        f"https://sms.example.com/webhooks/twilio/{workspace.pk}/status"
    )


def test_removing_the_last_number_leaves_no_default(simulated):
    for number in PhoneNumber.objects.all():
        services.number_remove(number=number)
    assert selectors.default_sender(workspace=simulated) is None


def test_the_phone_number_admin_lists_filters_and_searches(operator_client, simulated):
    first = simulator_numbers(simulated.pk)[0]
    pages = {
        "list": operator_client.get("/admin/numbers/phonenumber/"),
        "mms": operator_client.get("/admin/numbers/phonenumber/?capability=mms"),
        "voice": operator_client.get("/admin/numbers/phonenumber/?capability=voice"),
        "type": operator_client.get("/admin/numbers/phonenumber/?number_type__exact=toll_free"),
        "default": operator_client.get("/admin/numbers/phonenumber/?is_default__exact=1"),
        "search": operator_client.get(f"/admin/numbers/phonenumber/?q={simulated.pk}"),
    }
    assert all(page.status_code == 200 for page in pages.values())
    assert first in pages["list"].content.decode()
    assert first in pages["mms"].content.decode()
    assert first not in pages["voice"].content.decode()  # simulator numbers have no voice
    assert first not in pages["type"].content.decode()
    assert first in pages["default"].content.decode()
    assert first in pages["search"].content.decode()
    number = PhoneNumber.objects.get(phone_number=first)
    # The admin unescapes "_2F"-style sequences in keys: an unquoted "num_2F…" would read "num/…".
    change_url = f"/admin/numbers/phonenumber/{admin_quote(number.pk)}/change/"
    assert operator_client.get(change_url).status_code == 200
