"""The compatible API's edges, through Django's test client on PostgreSQL: credentials, bad input,
tenancy, the auth-token endpoints, and the callbacks' retries. (The SDK tests drive the rest.)"""

from __future__ import annotations

import base64

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone

from conftest import all_rows_text, assert_error
from messaging.models import Message
from numbers.models import PhoneNumber, ProviderAccount
from workspaces.models import AuthToken, Membership
from workspaces.services import auth_token_create, auth_token_revoke

from ..callbacks import callback_attempt
from ..models import CallbackDelivery, CallbackStatus
from .receiver import AppServer

pytestmark = pytest.mark.django_db
NUMBER = "+12025550100"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def compat(workspace, user):
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    PhoneNumber.objects.create(workspace=workspace, phone_number=NUMBER, is_default=True)
    owner = Membership.objects.get(workspace=workspace, user=user)
    token = auth_token_create(actor=owner, name="SDK")
    return workspace, token


def twilio_client(workspace, token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=basic(workspace.account_sid, token))


def messages_url(workspace) -> str:
    return f"/2010-04-01/Accounts/{workspace.account_sid}/Messages.json"


def assert_twilio_error(response, status: int, code: int) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert (body["code"], body["status"]) == (code, status) and body["message"]
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return body


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic",
        "Basic !!!not-base64",
        basic("", "x"),
        basic("ACx", ""),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer mp_live_x",
        basic("AC" + "0" * 32, "0" * 32),
        "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
    ],
)
def test_anything_but_the_workspaces_basic_credentials_is_a_401_in_twilios_shape(compat, header):
    workspace, _ = compat
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get(messages_url(workspace), **headers)
    assert_twilio_error(response, 401, 20003)
    assert response["WWW-Authenticate"].startswith("Basic")


def test_a_revoked_auth_token_or_api_key_stops_working_at_once(compat, user, api_key):
    workspace, token = compat
    owner = Membership.objects.get(workspace=workspace, user=user)
    assert twilio_client(workspace, token.token).get(messages_url(workspace)).status_code == 200
    assert twilio_client(workspace, api_key.key).get(messages_url(workspace)).status_code == 200
    auth_token_revoke(actor=owner, auth_token_id=token.auth_token.id)
    assert_twilio_error(twilio_client(workspace, token.token).get(messages_url(workspace)), 401, 20003)
    api_key.api_key.revoked_at = timezone.now()
    api_key.api_key.save()
    assert_twilio_error(twilio_client(workspace, api_key.key).get(messages_url(workspace)), 401, 20003)


@pytest.mark.parametrize(
    "form, code",
    [
        ({"To": "+14155550100\x00", "From": NUMBER, "Body": "x"}, 20001),
        ({"To": "+14155550100", "From": NUMBER, "Body": "nul\x00byte"}, 20001),
        ({"To": "+14155550100", "From": NUMBER, "Body": "x", "MediaUrl": "javascript:alert(1)"}, 21620),
        (
            {
                "To": "+14155550100",
                "From": NUMBER,
                "Body": "x",
                "MediaUrl": [f"https://e.com/{n}" for n in range(11)],
            },
            21623,
        ),
        ({"To": "+14155550100", "From": NUMBER, "Body": "x", "ValidityPeriod": "0"}, 21624),
        (
            {
                "To": "+14155550100",
                "From": NUMBER,
                "Body": "x",
                "SendAt": "tomorrow",
                "ScheduleType": "fixed",
            },
            35114,
        ),
        ({"To": "+14155550100", "From": NUMBER, "Body": "x", "ScheduleType": "fixed"}, 35111),
        ({"To": "+14155550100", "From": NUMBER, "Body": "x", "ScheduleType": "often"}, 30400),
        ({"To": "+14155550100", "MessagingServiceSid": "MG" + "9" * 32, "Body": "x"}, 21701),
        ({"To": "+14155550100", "From": "12", "Body": "x"}, 21212),
        ({"From": NUMBER, "Body": "x"}, 21604),
    ],
)
def test_bad_sends_are_refused_with_twilios_codes_and_store_nothing(compat, form, code):
    workspace, token = compat
    response = twilio_client(workspace, token.token).post(messages_url(workspace), form)
    assert_twilio_error(response, 400, code)
    assert not Message.objects.exists()


def test_a_json_body_bad_paging_and_unknown_paths_answer_in_twilios_shape(compat):
    workspace, token = compat
    http = twilio_client(workspace, token.token)
    response = http.post(messages_url(workspace), '{"To": "+14155550100"}', content_type="application/json")
    assert_twilio_error(response, 415, 20001)
    for query in (
        "PageSize=0",
        "PageSize=1001",
        "Page=-1",
        "PageSize=x",
        "PageToken=PAnope",
        "DateSent=yesterday",
        "DateSent%3E=2024-13-45",
        "To=12",
    ):
        assert http.get(f"{messages_url(workspace)}?{query}").status_code == 400, query
    assert_twilio_error(http.get("/2010-04-01/Accounts/ACnope/Calls.json"), 404, 20404)
    assert_twilio_error(
        http.get(f"/2010-04-01/Accounts/{workspace.account_sid}/Messages/SM%00.json"), 404, 20404
    )
    assert_twilio_error(http.delete(messages_url(workspace)), 405, 20004)


def test_a_queued_message_cannot_be_redacted_or_deleted_and_nothing_changes(compat):
    workspace, token = compat
    http = twilio_client(workspace, token.token)
    sid = http.post(messages_url(workspace), {"To": "+14155550100", "From": NUMBER, "Body": "keep"}).json()[
        "sid"
    ]
    url = f"/2010-04-01/Accounts/{workspace.account_sid}/Messages/{sid}.json"
    assert_twilio_error(http.post(url, {"Body": ""}), 400, 20009)
    assert_twilio_error(http.post(url, {"Body": "new text"}), 400, 30400)
    assert_twilio_error(http.post(url, {"Status": "canceled", "Body": ""}), 400, 30400)
    assert_twilio_error(http.post(url, {"Status": "delivered"}), 400, 30400)
    assert_twilio_error(http.post(url, {"Status": "canceled"}), 400, 30409)
    assert_twilio_error(http.delete(url), 400, 20009)
    assert Message.objects.get().body == "keep"


def _snapshot() -> dict:
    return {m._meta.label: list(m._base_manager.order_by("pk").values()) for m in apps.get_models()}


def test_another_workspaces_credentials_reach_nothing_on_any_compatible_route(
    compat, other_workspace, outsider
):
    """Every route under /2010-04-01/, every method, with Acme's AccountSid and object sids."""
    from django.urls import get_resolver

    workspace, token = compat
    acme = twilio_client(workspace, token.token)
    message_sid = acme.post(
        messages_url(workspace), {"To": "+14155550100", "From": NUMBER, "Body": "Secret"}
    ).json()["sid"]
    number_sid = acme.get(f"/2010-04-01/Accounts/{workspace.account_sid}/IncomingPhoneNumbers.json").json()[
        "incoming_phone_numbers"
    ][0]["sid"]
    ProviderAccount.objects.create(workspace=other_workspace, provider="simulator")
    theirs = twilio_client(
        other_workspace,
        auth_token_create(
            actor=Membership.objects.get(workspace=other_workspace, user=outsider), name="x"
        ).token,
    )
    resolver = next(
        p
        for p in get_resolver().url_patterns
        if getattr(p, "urlconf_name", None) and "twilio_api" in str(p.urlconf_name)
    )
    routes = [
        str(p.pattern)
        for p in resolver.url_patterns
        if str(p.pattern).startswith("2010-04-01/") and "<" in str(p.pattern)
    ]
    assert len(routes) == 5
    theirs.get(messages_url(other_workspace))  # records the token's use before the snapshot
    before = _snapshot()
    for route in routes:
        for account_sid in (workspace.account_sid, other_workspace.account_sid):
            url = "/" + (
                route.replace("<str:account_sid>", account_sid).replace(
                    "<str:sid>", message_sid if "Messages" in route else number_sid
                )
            )
            if account_sid == other_workspace.account_sid and "<str:sid>" not in route:
                continue  # their own account and lists: theirs to see
            for method in ("get", "post", "delete"):
                response = getattr(theirs, method)(
                    url, {"Body": "", "SmsUrl": "https://x.example/"} if method == "post" else None
                )
                assert response.status_code in (404, 405), (method, url, response.content)
                assert b"Secret" not in response.content
    assert _snapshot() == before
    listed = theirs.get(messages_url(other_workspace)).json()
    assert listed["messages"] == []


def test_auth_tokens_are_shown_once_stored_hashed_and_encrypted_and_revocable(owner_client, workspace):
    url = f"/api/ui/workspaces/{workspace.id}/auth-tokens"
    created = owner_client.post(url, {"name": "Courier"}, format="json")
    assert created.status_code == 201
    token = created.json()["token"]
    assert len(token) == 32 and int(token, 16) >= 0
    listed = owner_client.get(url).json()["data"]
    assert [t["name"] for t in listed] == ["Courier"] and "token" not in listed[0]
    assert token not in all_rows_text()  # only its hash and an encrypted copy are stored
    detail = owner_client.get(f"/api/ui/workspaces/{workspace.id}").json()
    assert detail["account_sid"] == workspace.account_sid
    ProviderAccount.objects.create(workspace=workspace, provider="simulator")
    assert twilio_client(workspace, token).get(messages_url(workspace)).status_code == 200
    assert owner_client.delete(f"{url}/{listed[0]['id']}").status_code == 204
    assert twilio_client(workspace, token).get(messages_url(workspace)).status_code == 401
    assert_error(owner_client.delete(f"{url}/{listed[0]['id']}"), 404, "not_found")
    assert AuthToken.objects.get().revoked_at is not None


def test_members_cannot_make_auth_tokens_and_outsiders_see_none(
    member_client, outsider_client, workspace, compat
):
    url = f"/api/ui/workspaces/{workspace.id}/auth-tokens"
    assert_error(member_client.post(url, {"name": "x"}, format="json"), 403, "forbidden")
    assert_error(outsider_client.get(url), 404, "not_found")


def test_the_integrator_workspace_shows_the_account_sid(api_client, workspace):
    assert api_client.get("/api/workspace").json()["account_sid"] == workspace.account_sid


def test_every_workspace_gets_its_own_account_sid(workspace, other_workspace):
    assert workspace.account_sid != other_workspace.account_sid
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM workspaces_workspace WHERE account_sid ~ '^AC[0-9a-f]{32}$'")
        assert cursor.fetchone()[0] == 2


def test_a_failed_callback_is_logged_and_retried_until_it_succeeds(compat, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = settings.WEBHOOK_ALLOW_HTTP = True
    workspace, token = compat
    app = AppServer(status=500)
    try:
        delivery = CallbackDelivery.objects.create(
            workspace=workspace,
            kind="status",
            url=app.url("/status"),
            params={"MessageSid": "SMx", "MessageStatus": "sent"},
            next_attempt_at=timezone.now(),
        )
        first = callback_attempt(delivery_id=delivery.pk)
        assert (first.status, first.attempts, first.last_status_code) == (CallbackStatus.PENDING, 1, 500)
        assert first.next_attempt_at > timezone.now() and first.last_error == "Answered 500."
        assert callback_attempt(delivery_id=delivery.pk) is None  # not due yet
        CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        app.status = 204
        second = callback_attempt(delivery_id=delivery.pk)
        assert (second.status, second.attempts, second.last_status_code) == (CallbackStatus.SUCCEEDED, 2, 204)
        assert len(app.requests) == 2
        assert app.requests[0].params == app.requests[1].params
        assert app.requests[1].headers["x-twilio-signature"]
    finally:
        app.close()


def test_a_callback_gives_up_after_its_last_attempt(compat, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = settings.WEBHOOK_ALLOW_HTTP = True
    settings.TWILIO_CALLBACK_MAX_ATTEMPTS = 1
    workspace, _ = compat
    delivery = CallbackDelivery.objects.create(
        workspace=workspace,
        kind="status",
        url="http://127.0.0.1:9/closed",
        params={"MessageSid": "SMx"},
        next_attempt_at=timezone.now(),
    )
    done = callback_attempt(delivery_id=delivery.pk)
    assert done.status == CallbackStatus.FAILED and done.last_error.startswith("Connection failed")


def test_a_validity_period_gives_the_message_its_expiry(compat):
    workspace, token = compat
    sid = (
        twilio_client(workspace, token.token)
        .post(
            messages_url(workspace),
            {"To": "+14155550100", "From": NUMBER, "Body": "Your code is 1234", "ValidityPeriod": "600"},
        )
        .json()["sid"]
    )
    message = Message.objects.get(pk=f"msg_{sid[2:]}")
    left = (message.expires_at - message.created_at).total_seconds()
    assert 599 <= left <= 601
