"""The stored Auth Token: encrypted at rest, readable after key rotation, never shown or logged."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from numbers.models import ProviderAccount

pytestmark = pytest.mark.django_db


def raw_auth_token(workspace) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT auth_token FROM {ProviderAccount._meta.db_table} WHERE workspace_id = %s", [workspace.pk]
        )
        return cursor.fetchone()[0]


@pytest.fixture
def operator_client(client, make_user):
    """The Django admin, as a superuser (the root conftest's admin_user is a workspace admin)."""
    operator = make_user("operator@example.com")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    client.force_login(operator)
    return client


@pytest.fixture
def connected(owner_client, workspace, twilio_account):
    body = {"provider": "twilio", "account_sid": twilio_account.sid, "auth_token": twilio_account.auth_token}
    response = owner_client.put(f"/api/ui/workspaces/{workspace.pk}/provider", body, format="json")
    assert response.status_code == 200
    return twilio_account


def test_the_auth_token_is_encrypted_in_the_database(connected, workspace, settings):
    raw = raw_auth_token(workspace)
    assert connected.auth_token not in raw
    key = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    assert key.decrypt(raw.encode()).decode() == connected.auth_token


def test_a_rotated_key_keeps_the_token_readable_and_new_writes_use_the_new_key(
    connected, workspace, settings
):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]  # FIELD_ENCRYPTION_KEY="new,old"
    account = ProviderAccount.objects.get(workspace=workspace)
    assert account.auth_token == connected.auth_token
    account.save()
    assert Fernet(new_key.encode()).decrypt(raw_auth_token(workspace).encode()).decode() == (
        connected.auth_token
    )
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can go once values are re-encrypted
    assert ProviderAccount.objects.get(workspace=workspace).auth_token == connected.auth_token


def test_the_token_never_appears_in_an_api_answer(connected, owner_client, member_client, workspace):
    base = f"/api/ui/workspaces/{workspace.pk}"
    ciphertext = raw_auth_token(workspace)
    answers = [
        owner_client.get(f"{base}/provider"),
        member_client.get(f"{base}/provider"),
        owner_client.post(f"{base}/provider/test"),
        owner_client.put(
            f"{base}/provider", {"provider": "twilio", "account_sid": connected.sid}, format="json"
        ),
        owner_client.post(f"{base}/numbers/import"),
        owner_client.get(f"{base}/numbers"),
    ]
    connected.auth_token = "changed-on-the-carrier"  # error answers too
    answers.append(owner_client.post(f"{base}/provider/test"))
    for response in answers:
        assert response.status_code < 500
        text = response.content.decode()
        assert 'auth_token"' not in text.replace("auth_token_set", "")
        assert ProviderAccount.objects.get().auth_token not in text
        assert ciphertext not in text


def test_the_token_never_appears_in_a_log_line(caplog, owner_client, workspace, twilio_account, fake_twilio):
    caplog.set_level(logging.DEBUG)
    for name in ("twilio", "twilio.http_client", "urllib3", "django", "numbers"):
        caplog.set_level(logging.DEBUG, logger=name)
    base = f"/api/ui/workspaces/{workspace.pk}"
    good = {"provider": "twilio", "account_sid": twilio_account.sid, "auth_token": twilio_account.auth_token}
    owner_client.put(f"{base}/provider", good | {"auth_token": "a-wrong-token-1234"}, format="json")
    fake_twilio.down = True
    owner_client.put(f"{base}/provider", good, format="json")
    fake_twilio.down = False
    owner_client.put(f"{base}/provider", good, format="json")
    owner_client.post(f"{base}/provider/test")
    owner_client.post(f"{base}/numbers/import")
    fake_twilio.fail_next(status=500)
    owner_client.post(f"{base}/provider/test")
    assert caplog.records, "the carrier calls should have logged something"
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for secret in (twilio_account.auth_token, "a-wrong-token-1234", raw_auth_token(workspace)):
        assert secret not in logged


def test_the_token_never_appears_in_the_admin(connected, workspace, operator_client):
    account = ProviderAccount.objects.get()
    ciphertext = raw_auth_token(workspace)
    pages = [
        operator_client.get("/admin/numbers/provideraccount/"),
        operator_client.get(f"/admin/numbers/provideraccount/{account.pk}/change/"),
        operator_client.get(f"/admin/numbers/provideraccount/{account.pk}/history/"),
        operator_client.get(f"/admin/numbers/provideraccount/{account.pk}/delete/"),
        operator_client.get("/admin/numbers/provideraccount/?q=" + connected.sid),
        operator_client.get("/admin/numbers/provideraccount/add/"),
    ]
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert connected.auth_token not in html
        assert ciphertext not in html
    assert connected.sid in pages[0].content.decode()


def test_the_admin_can_replace_the_token_through_a_write_only_input(connected, workspace, operator_client):
    account = ProviderAccount.objects.get()
    change_url = f"/admin/numbers/provideraccount/{account.pk}/change/"
    form = {
        "workspace": workspace.pk,
        "provider": "twilio",
        "account_sid": connected.sid,
        "messaging_service_sid": "",
        "new_auth_token": "",
    }
    assert operator_client.post(change_url, form).status_code == 302
    assert ProviderAccount.objects.get().auth_token == connected.auth_token  # empty keeps it
    assert operator_client.post(change_url, form | {"new_auth_token": "replaced"}).status_code == 302
    assert ProviderAccount.objects.get().auth_token == "replaced"
    assert "replaced" not in operator_client.get(change_url).content.decode()
