"""The workspace settings page of the Twilio-compatible API: the account SID, auth tokens, and
each number's SmsUrl."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from messaging_platform.errors import DomainError
from numbers.models import PhoneNumber
from numbers.selectors import access_number
from workspaces import services as workspace_services
from workspaces.models import AuthToken
from workspaces.pages import add_form_error, http_error, render_page, workspace_page

from . import services
from .errors import TwilioError


class AuthTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name", max_length=100, widget=forms.TextInput(attrs={"placeholder": "RapidPro"})
    )


def _page(request: HttpRequest, form: AuthTokenForm, issued=None, status: int = 200) -> HttpResponse:
    numbers = (
        PhoneNumber.objects.for_workspace(request.workspace)
        .select_related("twilio_webhooks")
        .order_by("created_at", "id")
    )
    tokens = AuthToken.objects.for_workspace(request.workspace).order_by("revoked_at", "-created_at")
    return render_page(
        request,
        "twilio_api/settings.html",
        {
            "form": form,
            "issued": issued,
            "tokens": tokens,
            "tab": "twilio",
            "numbers": [(n, services.webhooks_of(n)) for n in numbers],
            "base_url": settings.PUBLIC_BASE_URL,
        },
        status=status,
    )


@workspace_page(manage=True)
def twilio_settings(request: HttpRequest) -> HttpResponse:
    form = AuthTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = workspace_services.auth_token_create(
                actor=request.membership, name=form.cleaned_data["name"]
            )
        except DomainError as exc:
            add_form_error(form, exc)
        else:
            # The token appears in this one answer only.
            return _page(request, AuthTokenForm(), issued=issued)
    return _page(request, form, status=400 if request.method == "POST" else 200)


@require_POST
@workspace_page(manage=True)
def auth_token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    try:
        workspace_services.auth_token_revoke(actor=request.membership, auth_token_id=token_id)
    except DomainError as exc:
        raise http_error(exc) from None
    messages.success(request, "The token was revoked; requests made with it now fail.")
    return redirect("twilio-settings", ws=request.workspace.pk)


@require_POST
@workspace_page(manage=True)
def number_sms_url(request: HttpRequest, number_id: str) -> HttpResponse:
    try:
        number = access_number(workspace=request.workspace, number_id=number_id)
    except DomainError as exc:
        raise http_error(exc) from None
    try:
        services.number_configure(
            number=number,
            params={
                "SmsUrl": request.POST.get("sms_url", "").strip(),
                "SmsMethod": request.POST.get("sms_method", "POST"),
            },
        )
    except TwilioError as exc:
        messages.error(request, f"{number.phone_number}: {exc.message}")
    else:
        messages.success(
            request,
            f"Incoming messages to {number.phone_number} are now "
            + ("posted to your SmsUrl." if request.POST.get("sms_url") else "no longer posted anywhere."),
        )
    return redirect("twilio-settings", ws=request.workspace.pk)
