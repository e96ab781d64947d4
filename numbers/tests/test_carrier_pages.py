"""The carrier settings page for Telnyx, against the fake Telnyx over HTTP: set up, tested live,
its secret never shown back; the accounts and routes it lists."""

import pytest
from django.test import Client

from numbers.models import CarrierRoute, ProviderAccount

pytestmark = pytest.mark.django_db


def test_a_telnyx_account_is_set_up_and_tested_from_the_page(user, workspace, fake_telnyx, telnyx_account):
    client = Client()
    client.force_login(user)
    page = f"/w/{workspace.pk}/settings/carrier/"
    refused = client.post(
        page, {"provider": "telnyx", "api_key": telnyx_account.api_key, "public_key": "not a key"}
    )
    assert refused.status_code == 400 and not ProviderAccount.objects.exists()
    wrong = client.post(
        page, {"provider": "telnyx", "api_key": "KEYwrong-123", "public_key": fake_telnyx.public_key}
    )
    assert wrong.status_code == 400 and "KEYwrong-123" not in wrong.content.decode()
    saved = client.post(
        page,
        {
            "provider": "telnyx",
            "api_key": telnyx_account.api_key,
            "public_key": fake_telnyx.public_key,
            "messaging_profile_id": telnyx_account.messaging_profile_id,
        },
    )
    assert saved.status_code == 302
    account = ProviderAccount.objects.get(workspace=workspace)
    assert account.settings["public_key"] == fake_telnyx.public_key
    CarrierRoute.objects.create(workspace=workspace, prefix="+44", account=account)
    shown = client.get(page).content.decode()
    assert telnyx_account.api_key not in shown and "A key is stored" in shown
    assert account.uid in shown and "+44…" in shown
    tested = client.post(f"{page}test", follow=True)
    assert "Connected to Telnyx" in tested.content.decode()
