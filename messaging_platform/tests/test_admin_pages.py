"""The Django admin: every registered model opens, and no secret or hash ever shows."""

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import SessionToken, User
from accounts.services import session_token_issue
from messaging_platform.api.models import IdempotencyRecord
from messaging_platform.tokens import hash_secret
from workspaces.models import ApiKey, Invitation, Membership
from workspaces.services import invitation_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(make_user):
    return User.objects.create_superuser(email="root@example.com", password="root-pass-123", name="Root")


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def secrets(db, user, workspace, member, owner_client) -> list[str]:
    """Make one of everything, and return every secret and hash that must never be shown."""
    Group.objects.create(name="Support")
    session = session_token_issue(user=user)
    owner = Membership.objects.get(user=user, workspace=workspace)
    invitation = invitation_create(actor=owner, email="guest@example.com", role="member")
    created = owner_client.post(
        f"/api/ui/workspaces/{workspace.id}/api-keys",
        {"name": "CI"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="admin-test",
    )
    raw_key = created.json()["key"]
    assert IdempotencyRecord.objects.exists()
    values = [
        session.token,
        session.session.token_hash,
        invitation.token,
        invitation.invitation.token_hash,
        raw_key,
        hash_secret(raw_key),
        ApiKey.objects.get(pk=created.json()["id"]).key_hash,
        user.password,
    ]
    values += list(SessionToken.objects.values_list("token_hash", flat=True))
    values += _carrier_and_message_rows(workspace)
    return values


def _carrier_and_message_rows(workspace) -> list[str]:
    """A Twilio account, a number and one message with its history; returns the carrier secrets."""
    from django.db import connection

    from messaging.models import (
        CarrierEvent,
        ConsentEvent,
        Conversation,
        Message,
        MessageEvent,
        OptOut,
    )
    from numbers.models import PhoneNumber, ProviderAccount

    token = "f" * 31 + "9"
    account = ProviderAccount.objects.create(
        workspace=workspace, provider="twilio", account_sid="AC" + "a" * 32, auth_token=token
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM numbers_provideraccount WHERE id = %s", [account.pk])
        ciphertext = cursor.fetchone()[0]
    PhoneNumber.objects.create(workspace=workspace, phone_number="+12015550123", is_default=True)
    conversation = Conversation.objects.create(
        workspace=workspace, our_number="+12015550123", contact_number="+14155552671"
    )
    message = Message.objects.create(
        workspace=workspace,
        direction="outbound",
        status="sent",
        to_number="+14155552671",
        from_number="+12015550123",
        body="Hello",
        provider_sid="SM" + "1" * 32,
        conversation=conversation,
    )
    MessageEvent.objects.create(message=message, status="sent", source="worker")
    CarrierEvent.objects.create(
        workspace=workspace,
        provider="twilio",
        kind="status",
        dedupe_key="x",
        message=message,
        params={"MessageSid": message.provider_sid},
    )
    OptOut.objects.create(workspace=workspace, phone_number="+14155552672", keyword="STOP")
    ConsentEvent.objects.create(
        workspace=workspace, phone_number="+14155552672", action="opt_out", keyword="STOP"
    )
    _campaign_rows(workspace)
    return [token, ciphertext, *_webhook_rows(workspace), *_twilio_compat_rows(workspace, message)]


def _twilio_compat_rows(workspace, message) -> list[str]:
    """A number's SmsUrl, a Twilio-style callback delivery, an auth token; returns the token."""
    from messaging.twilio_api.models import CallbackDelivery, NumberWebhooks
    from workspaces.models import AuthToken

    NumberWebhooks.objects.create(
        workspace=workspace, phone_number=workspace.phone_numbers.get(), sms_url="https://app.example.com/sms"
    )
    CallbackDelivery.objects.create(
        workspace=workspace,
        message=message,
        kind="status",
        url="https://app.example.com/status",
        params={"MessageSid": "SM1", "MessageStatus": "sent"},
    )
    raw = "e" * 31 + "7"
    AuthToken.objects.create(workspace=workspace, name="SDK", prefix=raw[:4], token_hash="0" * 64, token=raw)
    return [raw]


def _campaign_rows(workspace) -> None:
    from messaging.models import Broadcast, Contact, ContactImport, MessageTemplate

    Contact.objects.create(
        workspace=workspace, phone_number="+14155552671", name="Ana", fields={"city": "Paris"}, tags=["vip"]
    )
    ContactImport.objects.create(workspace=workspace, status="completed", total_rows=1)
    MessageTemplate.objects.create(workspace=workspace, name="Welcome", body="Hi {{name}}")
    Broadcast.objects.create(workspace=workspace, name="Launch", body="Hi", audience={"all": True})


def _webhook_rows(workspace) -> list[str]:
    """An outbound webhook endpoint with one delivery and its attempt; returns its secret."""
    from django.utils import timezone

    from messaging.event_webhooks import generate_webhook_secret
    from messaging.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

    secret = generate_webhook_secret()
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, url="https://hooks.example.com/x", events=["message.received"], secret=secret
    )
    delivery = WebhookDelivery.objects.create(
        workspace=workspace,
        endpoint=endpoint,
        event_id="evt_1",
        event_type="message.received",
        payload={"id": "evt_1", "data": {}},
    )
    WebhookAttempt.objects.create(
        delivery=delivery, attempted_at=timezone.now(), status_code=500, error="Answered 500."
    )
    return [secret, secret.removeprefix("whsec_")]


def registered_models():
    return [model for model in admin.site._registry]


def test_every_expected_model_is_in_the_admin():
    labels = {model._meta.label for model in registered_models()}
    assert labels >= {
        "accounts.User",
        "accounts.SessionToken",
        "workspaces.Workspace",
        "workspaces.Membership",
        "workspaces.Invitation",
        "workspaces.ApiKey",
        "api.IdempotencyRecord",
    }


def test_every_changelist_and_change_page_opens_without_showing_a_secret(admin_client, secrets):
    for model in registered_models():
        opts = model._meta
        pages = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
        model_admin = admin.site._registry[model]
        if model_admin.search_fields:
            pages.append(pages[0] + "?q=example")
        obj = model._default_manager.first()
        assert obj is not None, f"no {opts.label} to open"
        # quote(): the admin reads `_2B` in a URL as "+", and our ids are `prefix_` + random.
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)]))
        for page in pages:
            response = admin_client.get(page)
            assert response.status_code == 200, page
            html = response.content.decode()
            leaked = [value for value in secrets if value in html]
            assert leaked == [], f"{page} shows a secret"


def test_the_workspace_change_page_lists_its_members(admin_client, workspace, member):
    html = admin_client.get(reverse("admin:workspaces_workspace_change", args=[workspace.pk]))
    assert member.email in html.content.decode()


def test_an_operator_can_disable_a_workspace_and_its_keys_stop(admin_client, workspace, api_client):
    response = admin_client.post(
        reverse("admin:workspaces_workspace_changelist"),
        {"action": "disable", "_selected_action": [workspace.pk]},
    )
    assert response.status_code == 302
    assert api_client.get("/api/workspace").status_code == 401


def test_an_operator_can_revoke_a_key(admin_client, api_key, api_client):
    admin_client.post(
        reverse("admin:workspaces_apikey_changelist"),
        {"action": "revoke", "_selected_action": [api_key.api_key.pk]},
    )
    assert ApiKey.objects.get().revoked_at is not None
    assert api_client.get("/api/workspace").status_code == 401


def test_invitations_and_keys_cannot_be_added_by_hand_in_the_admin(admin_client):
    for name in ("workspaces_invitation", "workspaces_apikey", "accounts_sessiontoken"):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403
    assert Invitation.objects.count() == 0


def test_a_non_staff_user_cannot_open_the_admin(user):
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:workspaces_workspace_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
