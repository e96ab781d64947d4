"""Tenancy, proven for every endpoint at once: an outsider sees and changes nothing of Acme.

The sweep walks the project's URL patterns and the ASGI application's WebSocket routes, so an
endpoint added later is covered without editing this file. A workspace-owned model added later
needs one line in SEEDS, so that its endpoints are tried with a real id; a test below fails until
it has one.
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.services import session_token_issue
from conftest import assert_error
from messaging_platform.asgi import application
from workspaces.authentication import IntegratorAPIMixin
from workspaces.models import Invitation, Membership, Role, Workspace
from workspaces.scoping import INTEGRATOR, WorkspaceAPIMixin
from workspaces.services import api_key_create

pytestmark = pytest.mark.django_db

PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
ALL_METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]
# A body that would pass validation on most endpoints, should scoping ever let it through.
BODY = json.dumps(
    {
        "name": "Taken over",
        "role": "owner",
        "email": "outsider@example.com",
        "token": "x",
        "phone_number": "+15005550006",
        "friendly_name": "x",
        "is_default": True,
        "provider": "simulator",
        "to": "+15005550006",
        "body": "hi",
        "url": "https://example.com/h",
    }
)


@dataclass
class Route:
    route: str  # "api/ui/workspaces/<str:workspace_id>/members/<str:user_id>"
    view: Callable

    @property
    def params(self) -> list[str]:
        return [m["name"] for m in PARAM.finditer(self.route)]

    @property
    def view_class(self) -> type | None:
        return getattr(self.view, "view_class", None) or getattr(self.view, "cls", None)

    def methods(self) -> list[str]:
        cls = self.view_class
        if cls is None:  # a function view: try everything
            return ALL_METHODS
        allowed = [m for m in cls.http_method_names if m in ALL_METHODS and hasattr(cls, m)]
        return allowed + (["head"] if "get" in allowed and "head" not in allowed else [])

    def url(self, values: dict[str, str]) -> str:
        return "/" + PARAM.sub(lambda m: values[m["name"]], self.route)


def walk(patterns=None, prefix: str = "") -> Iterator[Route]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and not route.startswith("^"):
            yield Route(route, pattern.callback)


def workspace_routes() -> list[Route]:
    # Carrier webhooks name a workspace too, but are authenticated by the carrier's signature,
    # not by membership: messaging/tests/test_twilio_pipeline.py proves forged ones change nothing.
    return [r for r in walk() if "<str:workspace_id>" in r.route and not r.route.startswith("webhooks/")]


def integrator_routes() -> list[Route]:
    return [
        r
        for r in walk()
        if r.view_class is not None
        and (
            issubclass(r.view_class, IntegratorAPIMixin)
            or getattr(r.view, "view_initkwargs", {}).get("surface", INTEGRATOR) == INTEGRATOR
            and issubclass(r.view_class, WorkspaceAPIMixin)
        )
    ]


def tenant_models() -> list[type[models.Model]]:
    """Every model that belongs to a workspace (has a `workspace` foreign key)."""
    return [
        model
        for model in apps.get_models()
        if any(
            f.name == "workspace" and f.is_relation and f.related_model is Workspace
            for f in model._meta.fields
        )
    ]


def _seed_phone_number(workspace: Workspace) -> None:
    apps.get_model("numbers", "PhoneNumber").objects.create(
        workspace=workspace, phone_number="+15005550006", is_default=True
    )


def _seed_provider_account(workspace: Workspace) -> None:
    apps.get_model("numbers", "ProviderAccount").objects.create(workspace=workspace, provider="simulator")


def _seed_carrier_route(workspace: Workspace) -> None:
    accounts = apps.get_model("numbers", "ProviderAccount").objects
    account = accounts.filter(workspace=workspace).first() or accounts.create(
        workspace=workspace, provider="simulator"
    )
    apps.get_model("numbers", "CarrierRoute").objects.create(
        workspace=workspace, prefix="+44", account=account
    )


def _seed_conversation(workspace: Workspace) -> None:
    apps.get_model("messaging", "Conversation").objects.create(
        workspace=workspace, our_number="+15005550006", contact_number="+14155552671"
    )


def _seed_message(workspace: Workspace) -> None:
    # Scheduled, so that a cancel would succeed if scoping ever let another workspace through.
    conversation = apps.get_model("messaging", "Conversation").objects.filter(workspace=workspace).first()
    message = apps.get_model("messaging", "Message").objects.create(
        workspace=workspace,
        direction="outbound",
        status="scheduled",
        to_number="+14155552671",
        from_number="+15005550006",
        body="Secret plans",
        conversation=conversation,
        scheduled_at="2099-01-01T00:00:00Z",
    )
    if conversation is not None:
        conversation.last_message = message
        conversation.save()


def _seed_carrier_event(workspace: Workspace) -> None:
    apps.get_model("messaging", "CarrierEvent").objects.create(
        workspace=workspace,
        provider="simulator",
        kind="status",
        dedupe_key="SM1:sent",
        params={"MessageSid": "SM1", "MessageStatus": "sent"},
    )


def _seed_opt_out(workspace: Workspace) -> None:
    apps.get_model("messaging", "OptOut").objects.create(
        workspace=workspace, phone_number="+14155552672", keyword="STOP"
    )


def _seed_consent_event(workspace: Workspace) -> None:
    apps.get_model("messaging", "ConsentEvent").objects.create(
        workspace=workspace, phone_number="+14155552672", action="opt_out", keyword="STOP"
    )


def _seed_webhook_endpoint(workspace: Workspace) -> None:
    apps.get_model("messaging", "WebhookEndpoint").objects.get_or_create(
        workspace=workspace,
        url="https://hooks.example.com/sms",
        defaults={"events": ["message.received"], "secret": "whsec_" + "A" * 43},
    )


def _seed_webhook_delivery(workspace: Workspace) -> None:
    _seed_webhook_endpoint(workspace)
    endpoint = apps.get_model("messaging", "WebhookEndpoint").objects.get(workspace=workspace)
    apps.get_model("messaging", "WebhookDelivery").objects.create(
        workspace=workspace,
        endpoint=endpoint,
        event_id=f"evt_{workspace.pk}",
        event_type="message.received",
        payload={"data": {}},
    )


def _seed_contact(workspace: Workspace) -> None:
    apps.get_model("messaging", "Contact").objects.create(
        workspace=workspace, phone_number="+14155552672", name="Ana", tags=["vip"]
    )


def _seed_contact_import(workspace: Workspace) -> None:
    apps.get_model("messaging", "ContactImport").objects.create(workspace=workspace, status="completed")


def _seed_message_template(workspace: Workspace) -> None:
    apps.get_model("messaging", "MessageTemplate").objects.create(
        workspace=workspace, name="Welcome", body="Hi {{name}}"
    )


def _seed_auth_token(workspace: Workspace) -> None:
    apps.get_model("workspaces", "AuthToken").objects.create(
        workspace=workspace,
        name="SDK",
        prefix="abcd",
        token_hash=f"{workspace.pk:0>64}"[-64:],
        token="abcd" * 8,
    )


def _seed_twilio_number_webhooks(workspace: Workspace) -> None:
    number = apps.get_model("numbers", "PhoneNumber").objects.filter(workspace=workspace).first()
    apps.get_model("twilio_api", "NumberWebhooks").objects.create(
        workspace=workspace, phone_number=number, sms_url="https://app.example.com/sms"
    )


def _seed_twilio_status_callback(workspace: Workspace) -> None:
    message = apps.get_model("messaging", "Message").objects.filter(workspace=workspace).first()
    apps.get_model("twilio_api", "MessageStatusCallback").objects.create(
        workspace=workspace, message=message, url="https://app.example.com/status"
    )


def _seed_twilio_callback_delivery(workspace: Workspace) -> None:
    apps.get_model("twilio_api", "CallbackDelivery").objects.create(
        workspace=workspace,
        kind="status",
        url="https://app.example.com/status",
        params={"MessageStatus": "sent"},
    )


def _seed_broadcast(workspace: Workspace) -> None:
    apps.get_model("messaging", "Broadcast").objects.create(
        workspace=workspace, name="Launch", body="Hi", audience={"all": True}
    )


# How to make one row of each workspace-owned model in Acme (members, keys, … are made below).
def _seed_stored_media(workspace: Workspace) -> None:
    message = apps.get_model("messaging", "Message").objects.filter(workspace=workspace).first()
    apps.get_model("media_store", "StoredMedia").objects.create(
        workspace=workspace,
        message=message,
        position=0,
        source_url="https://example.com/a.png",
        content_type="image/png",
        size=3,
        data=b"png",
    )


SEEDS: dict[str, Callable[[Workspace], None]] = {
    "messaging.conversation": _seed_conversation,
    "messaging.message": _seed_message,
    "messaging.carrierevent": _seed_carrier_event,
    "messaging.optout": _seed_opt_out,
    "messaging.consentevent": _seed_consent_event,
    "messaging.webhookendpoint": _seed_webhook_endpoint,
    "messaging.webhookdelivery": _seed_webhook_delivery,
    "messaging.contact": _seed_contact,
    "messaging.contactimport": _seed_contact_import,
    "messaging.messagetemplate": _seed_message_template,
    "messaging.broadcast": _seed_broadcast,
    "media_store.storedmedia": _seed_stored_media,
    "workspaces.membership": lambda ws: None,
    "workspaces.invitation": lambda ws: None,
    "workspaces.apikey": lambda ws: None,
    "numbers.phonenumber": _seed_phone_number,
    "numbers.provideraccount": _seed_provider_account,
    "numbers.carrierroute": _seed_carrier_route,
    "audit.auditrecord": lambda ws: None,  # the workspace's creation is recorded
    "operations.retentionpolicy": lambda ws: apps.get_model("operations", "RetentionPolicy").objects.create(
        workspace=ws, body_retention_days=30
    ),
    "operations.alertrule": lambda ws: apps.get_model("operations", "AlertRule").objects.create(
        workspace=ws, kind="queue_backlog", threshold=60
    ),
    "insights.insightcount": lambda ws: apps.get_model("insights", "InsightCount").objects.create(
        workspace=ws, bucket="2026-12-01T09:00:00Z", sent=7
    ),
    "workspaces.authtoken": _seed_auth_token,
    # Seeded after the number and the message they belong to: twilio_api comes after numbers and
    # messaging in INSTALLED_APPS.
    "twilio_api.numberwebhooks": _seed_twilio_number_webhooks,
    "twilio_api.messagestatuscallback": _seed_twilio_status_callback,
    "twilio_api.callbackdelivery": _seed_twilio_callback_delivery,
}


@pytest.fixture
def acme(workspace, member, api_key, user) -> Workspace:
    """Acme with one row of every workspace-owned model."""
    Invitation.objects.create(
        workspace=workspace,
        email="guest@example.com",
        role=Role.ADMIN,
        token_hash="0" * 64,
        invited_by=user,
        expires_at="2099-01-01T00:00:00Z",
    )
    for model in tenant_models():
        seed = SEEDS.get(model._meta.label_lower)
        if seed is not None and not model.objects.filter(workspace=workspace).exists():
            seed(workspace)
    return workspace


def _stem(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower().removesuffix("_id"))


def acme_ids(acme: Workspace, member) -> dict[str, str]:
    """For each URL parameter name, the id of one of Acme's objects (by model name)."""
    found: dict[str, str] = {"user_id": member.id}
    for model in tenant_models():
        obj = model.objects.filter(workspace=acme).first()
        public_id = getattr(obj, "uid", None) or getattr(obj, "pk", None)  # carrier accounts: ca_…
        if obj is None or isinstance(public_id, int):
            continue
        found[model._meta.model_name] = str(public_id)
    return found


def value_for(param: str, ids: dict[str, str]) -> tuple[str, bool]:
    """(an id of Acme's for this parameter, whether it is a real one)."""
    if param in ids:
        return ids[param], True
    stem = _stem(param)  # "api_key_id" → "apikey", "number_id" → "number"
    for model_name, pk in ids.items():
        if model_name == stem or model_name.endswith(stem) or stem.endswith(model_name):
            return pk, True
    return f"{stem[:3]}_missing", False


def snapshot() -> dict[str, list]:
    """Every row of every model, less `last_used_at`: the outsider's own credential records its use
    once a minute, which a slow run crosses (that is not a change to anyone else's data)."""
    return {
        m._meta.label: [
            {k: v for k, v in row.items() if k != "last_used_at"}
            for row in m._base_manager.order_by("pk").values()
        ]
        for m in apps.get_models()
    }


def request(client: APIClient, method: str, url: str):
    return client.generic(
        method.upper(),
        url,
        BODY if method in ("post", "put", "patch") else "",
        content_type="application/json",
    )


def test_the_sweep_finds_the_workspace_endpoints():
    routes = {r.route for r in workspace_routes()}
    assert "api/ui/workspaces/<str:workspace_id>" in routes
    assert "api/ui/workspaces/<str:workspace_id>/api-keys/<str:api_key_id>" in routes


def test_the_sweep_knows_how_to_seed_every_workspace_owned_model():
    missing = sorted({m._meta.label_lower for m in tenant_models()} - set(SEEDS))
    assert missing == [], f"add a seed for {missing} to SEEDS in {__file__}"


def test_an_outsider_can_neither_see_nor_change_anything_of_another_workspace(
    acme, member, other_workspace, outsider_client, owner_client, settings
):
    settings.UI_RATE_LIMIT = "100000/m"
    ids = acme_ids(acme, member)
    for client in (outsider_client, owner_client):
        client.get("/api/auth/me")  # records the tokens' use before the snapshot
    before = snapshot()
    tried = 0
    for route in workspace_routes():
        values, all_real = {"workspace_id": acme.id}, True
        for param in route.params:
            if param != "workspace_id":
                values[param], real = value_for(param, ids)
                all_real &= real
        for method in route.methods():
            # Acme's id in the URL; and for object routes, the outsider's own workspace with
            # Acme's object ids (there the outsider is an owner, so no role check stands in the way).
            # (OPTIONS describes the endpoint, not the object: it says nothing about Acme.)
            urls = [route.url(values)]
            if len(route.params) > 1 and method != "options":
                urls.append(route.url(values | {"workspace_id": other_workspace.id}))
            for url in urls:
                response = request(outsider_client, method, url)
                where = f"{method.upper()} {url}"
                if method == "head":
                    assert response.status_code == 404, where
                else:
                    assert_error(response, 404, "not_found")
                assert snapshot() == before, f"{where} changed the database"
                tried += 1
        # A control: Acme's owner does reach the same URL, so the ids above were real.
        if "get" in route.methods() and all_real:
            assert owner_client.get(route.url(values)).status_code == 200, route.route
    assert tried >= 20


def test_another_workspaces_api_key_sees_nothing_of_acme(
    acme, member, other_api_client, other_workspace, settings
):
    settings.API_KEY_RATE_LIMIT = "100000/m"
    ids = acme_ids(acme, member)
    acme_values = {acme.id, *ids.values()}
    other_api_client.get("/api/workspace")
    before = snapshot()
    routes = integrator_routes()
    assert any(r.route == "api/workspace" for r in routes)
    for route in routes:
        if route.params:
            values = {p: value_for(p, ids)[0] for p in route.params}
            for method in route.methods():
                if method == "options":
                    continue  # describes the endpoint, not the object: nothing to leak
                response = request(other_api_client, method, route.url(values))
                if method != "head":
                    assert_error(response, 404, "not_found")
                else:
                    assert response.status_code == 404
        elif "get" in route.methods():
            response = other_api_client.get(route.url({}))
            assert response.status_code == 200, route.route
            text = response.content.decode()
            assert not [value for value in acme_values if value in text], route.route
        assert snapshot() == before, route.route
    assert other_api_client.get("/api/workspace").json()["id"] == other_workspace.id


# The WebSocket ------------------------------------------------------------------------------------

# WebSocket routes that name no workspace, each with the reason it needs no tenancy check here.
WEBSOCKET_ROUTES_WITHOUT_A_WORKSPACE: dict[str, str] = {}
WS_TIMEOUT = 3
WS_ORIGIN = "https://platform.example.com"


def _websocket_router(app) -> URLRouter:
    """The URLRouter inside the ASGI application's websocket branch, through its middleware."""
    app = app.application_mapping["websocket"]
    while not isinstance(app, URLRouter):
        inner = getattr(app, "inner", None) or getattr(app, "application", None)
        assert inner is not None, f"cannot see through {app!r} to the WebSocket URLRouter"
        app = inner
    return app


def walk_websocket(router: URLRouter | None = None, prefix: str = "") -> Iterator[str]:
    for route in (router or _websocket_router(application)).routes:
        pattern = prefix + str(route.pattern)
        if isinstance(route.callback, URLRouter):  # a nested router
            yield from walk_websocket(route.callback, pattern)
        else:
            yield pattern


def websocket_workspace_routes() -> list[Route]:
    return [Route(r, None) for r in walk_websocket() if "<str:workspace_id>" in r]


def _connects(ws_path: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the handshake is accepted (False: closed before accept, an HTTP 403 to a client)."""

    async def attempt() -> bool:
        communicator = WebsocketCommunicator(application, ws_path, headers=headers)
        connected, _ = await communicator.connect(timeout=WS_TIMEOUT)
        await communicator.disconnect()
        return connected

    return async_to_sync(attempt)()


def _credentials(user, workspace: Workspace) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every way `user` (a manager of `workspace`) can present itself to the WebSocket."""
    key = api_key_create(actor=Membership.objects.get(user=user, workspace=workspace), name="ws")
    browser = Client()
    browser.force_login(user)
    return {
        "session token": [(b"authorization", f"Bearer {session_token_issue(user=user).token}".encode())],
        "API key": [(b"authorization", f"Bearer {key.key}".encode())],
        "cookie session": [
            (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode()),
            (b"origin", WS_ORIGIN.encode()),
        ],
    }


def test_the_websocket_sweep_finds_the_workspace_socket():
    assert "ws/workspaces/<str:workspace_id>/" in {r.route for r in websocket_workspace_routes()}


def test_every_websocket_route_names_a_workspace_or_says_why_not():
    unexplained = sorted(
        r
        for r in walk_websocket()
        if "<str:workspace_id>" not in r and r not in WEBSOCKET_ROUTES_WITHOUT_A_WORKSPACE
    )
    assert unexplained == [], f"sweep them here or explain them in {__file__}"


@pytest.mark.django_db(transaction=True)  # the consumer reads the database from another thread
def test_another_workspaces_credentials_never_open_a_workspace_socket(
    acme, user, member, outsider, other_workspace, settings
):
    settings.ALLOWED_HOSTS = ["platform.example.com"]  # the cookie session's Origin check
    ids = acme_ids(acme, member)
    acme_credentials = _credentials(user, acme)
    outsider_credentials = _credentials(outsider, other_workspace)
    routes = websocket_workspace_routes()
    assert routes
    tried = 0
    for route in routes:
        values = {p: value_for(p, ids)[0] for p in route.params} | {"workspace_id": acme.id}
        acme_url = route.url(values)
        other_url = route.url(values | {"workspace_id": other_workspace.id})
        for kind in acme_credentials:
            # The other workspace's credential on Acme's id, and Acme's credential on the other's.
            for ws_path, headers, who in (
                (acme_url, outsider_credentials[kind], "outsider"),
                (other_url, acme_credentials[kind], "Acme's owner"),
            ):
                assert not _connects(ws_path, headers), f"{who}'s {kind} opened {ws_path}"
                tried += 1
            # A control: each credential does open its own workspace's socket.
            assert _connects(acme_url, acme_credentials[kind]), f"Acme's {kind} on {acme_url}"
            assert _connects(other_url, outsider_credentials[kind]), f"outsider's {kind}"
    assert tried >= 6
