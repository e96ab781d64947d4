"""Settings › Webhooks: the workspace's event webhook endpoints (server-rendered pages).

Every change goes through the services of the UI API (messaging.event_webhooks), with the same
rule: members read, owners and admins change. A signing secret is shown once, on the page that
follows its creation or rotation (carried there in the session, then dropped).
"""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from messaging_platform.errors import DomainError
from workspaces.pages import add_form_error, flash_error, http_error, render_page, workspace_page

from . import event_webhooks
from .models import DeliveryStatus, WebhookEndpoint, WebhookEventType

SECRET_SESSION_KEY = "webhook-secret"
DELIVERY_LOG_LENGTH = 50


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="Endpoint URL",
        max_length=2000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks"}),
    )
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one event."},
    )


def _endpoint(request: HttpRequest, endpoint_id: str) -> WebhookEndpoint:
    try:
        return event_webhooks.access_webhook_endpoint(workspace=request.workspace, endpoint_id=endpoint_id)
    except DomainError as exc:
        raise http_error(exc) from None


def _show_secret_once(request: HttpRequest, endpoint: WebhookEndpoint) -> None:
    request.session[SECRET_SESSION_KEY] = {"endpoint": endpoint.pk, "secret": endpoint.secret}


@workspace_page(manage=True)
def webhook_list(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(
        request.POST or None,
        initial={"events": [WebhookEventType.MESSAGE_RECEIVED, WebhookEventType.MESSAGE_STATUS_UPDATED]},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            endpoint = event_webhooks.webhook_endpoint_create(
                workspace=request.workspace,
                url=data["url"],
                events=data["events"],
                description=data["description"],
                created_by=request.user,
            )
        except DomainError as exc:
            add_form_error(form, exc)
        else:
            _show_secret_once(request, endpoint)
            return redirect("webhook-page", ws=request.workspace.pk, endpoint_id=endpoint.pk)
    endpoints = event_webhooks.webhook_endpoint_list(workspace=request.workspace)
    return render_page(
        request,
        "workspaces/webhooks.html",
        {"form": form, "endpoints": endpoints, "tab": "webhooks"},
        status=400 if request.method == "POST" else 200,
    )


@workspace_page(manage=True)
def webhook_detail(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    form = EndpointForm(
        request.POST or None,
        initial={"url": endpoint.url, "description": endpoint.description, "events": endpoint.events},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            event_webhooks.webhook_endpoint_update(
                endpoint=endpoint, url=data["url"], events=data["events"], description=data["description"]
            )
        except DomainError as exc:
            add_form_error(form, exc)
        else:
            messages.success(request, "The endpoint was saved.")
            return redirect("webhook-page", ws=request.workspace.pk, endpoint_id=endpoint.pk)
    secret = None
    stash = request.session.get(SECRET_SESSION_KEY)
    if stash and stash.get("endpoint") == endpoint.pk:
        secret = stash["secret"]
        del request.session[SECRET_SESSION_KEY]
    deliveries = list(
        event_webhooks.webhook_delivery_list(endpoint=endpoint).prefetch_related("attempt_log")[
            :DELIVERY_LOG_LENGTH
        ]
    )
    return render_page(
        request,
        "workspaces/webhook.html",
        {
            "endpoint": endpoint,
            "form": form,
            "secret": secret,
            "deliveries": deliveries,
            "event_labels": dict(WebhookEventType.choices),
            "tab": "webhooks",
            "pending": DeliveryStatus.PENDING,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@workspace_page(manage=True)
def webhook_action(request: HttpRequest, endpoint_id: str, action: str) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    ws = request.workspace.pk
    try:
        if action == "test":
            event_webhooks.webhook_endpoint_send_test(endpoint=endpoint)
            messages.success(request, "A test event is on its way; it appears in the delivery log.")
        elif action == "rotate-secret":
            endpoint = event_webhooks.webhook_endpoint_rotate_secret(endpoint=endpoint)
            _show_secret_once(request, endpoint)
            messages.success(request, "The secret was replaced: the old one no longer signs anything.")
        elif action in ("disable", "enable"):
            event_webhooks.webhook_endpoint_update(endpoint=endpoint, is_active=action == "enable")
            messages.success(
                request,
                "The endpoint was enabled."
                if action == "enable"
                else "The endpoint was disabled: no events are sent to it.",
            )
        elif action == "delete":
            event_webhooks.webhook_endpoint_delete(endpoint=endpoint)
            messages.success(request, f"The endpoint {endpoint.url} was deleted.")
            return redirect("webhooks", ws=ws)
        else:
            raise http_error(DomainError("not_found", "No such action."))
    except DomainError as exc:
        if exc.code == "not_found":
            raise http_error(exc) from None
        flash_error(request, exc)
    return redirect("webhook-page", ws=ws, endpoint_id=endpoint.pk)


@require_POST
@workspace_page(manage=True)
def webhook_redeliver(request: HttpRequest, endpoint_id: str, delivery_id: str) -> HttpResponse:
    endpoint = _endpoint(request, endpoint_id)
    try:
        delivery = event_webhooks.access_webhook_delivery(endpoint=endpoint, delivery_id=delivery_id)
        event_webhooks.webhook_delivery_redeliver(delivery=delivery)
    except DomainError as exc:
        if exc.code == "not_found":
            raise http_error(exc) from None
        flash_error(request, exc)
    else:
        messages.success(request, f"The {delivery.event_type} event is being delivered again.")
    return redirect("webhook-page", ws=request.workspace.pk, endpoint_id=endpoint.pk)
