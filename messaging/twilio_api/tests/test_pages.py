"""The settings page of the Twilio-compatible API: account SID, auth tokens, SmsUrl."""

from __future__ import annotations

import pytest
from django.test import Client

from numbers.models import PhoneNumber
from workspaces.models import AuthToken

from ..models import NumberWebhooks

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def number(workspace):
    return PhoneNumber.objects.create(workspace=workspace, phone_number="+12025550100", is_default=True)


def test_an_owner_sees_the_account_sid_makes_a_token_once_and_sets_an_sms_url(
    user, workspace, number, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # no DNS here: app.example.com cannot be resolved
    page = f"/w/{workspace.id}/settings/twilio/"
    owner = browser(user)
    shown = owner.get(page)
    assert shown.status_code == 200 and workspace.account_sid in shown.content.decode()

    created = owner.post(page, {"name": "RapidPro"})
    token = AuthToken.objects.get(workspace=workspace)
    text = created.content.decode()
    assert created.status_code == 200 and "only this once" in text
    assert len(text.split('id="new-token" class="mono" type="text" readonly value="')[1][:32]) == 32
    assert "only this once" not in owner.get(page).content.decode()

    saved = owner.post(
        f"/w/{workspace.id}/settings/twilio/numbers/{number.id}/sms-url",
        {"sms_url": "https://app.example.com/sms", "sms_method": "GET"},
    )
    assert saved.status_code == 302
    hooks = NumberWebhooks.objects.get(phone_number=number)
    assert (hooks.sms_url, hooks.sms_method) == ("https://app.example.com/sms", "GET")
    refused = owner.post(
        f"/w/{workspace.id}/settings/twilio/numbers/{number.id}/sms-url",
        {"sms_url": "ftp://app.example.com/x", "sms_method": "POST"},
        follow=True,
    )
    assert "not a valid http(s) URL" in refused.content.decode()
    assert NumberWebhooks.objects.get(phone_number=number).sms_url == "https://app.example.com/sms"

    revoked = owner.post(f"/w/{workspace.id}/settings/twilio/tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_members_only_read_and_outsiders_get_nothing(member, outsider, workspace, number):
    page = f"/w/{workspace.id}/settings/twilio/"
    assert browser(member).get(page).status_code == 200
    assert browser(member).post(page, {"name": "x"}).status_code == 403
    assert browser(outsider).get(page).status_code == 404
    assert (
        browser(outsider)
        .post(
            f"/w/{workspace.id}/settings/twilio/numbers/{number.id}/sms-url",
            {"sms_url": "https://evil.example/"},
        )
        .status_code
        == 404
    )
    assert not AuthToken.objects.exists() and not NumberWebhooks.objects.exists()
