"""Numbers and carrier-account pages. Members read; owners and admins change (as in the API)."""

import base64
import binascii

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from messaging_platform.api.errors import ApiError
from workspaces.views import add_api_error, http_error, render_page, workspace_page

from . import selectors, services
from .models import ProviderKind
from .phone import MAX_RAW_LENGTH
from .providers import get_provider
from .providers.base import ProviderError
from .serializers import ACCOUNT_SID_PATTERN, MESSAGING_SERVICE_SID_PATTERN


class ProviderForm(forms.Form):
    provider = forms.ChoiceField(label="Carrier", choices=ProviderKind.choices,
                                 widget=forms.RadioSelect, initial=ProviderKind.SIMULATOR)
    account_sid = forms.RegexField(
        label="Account SID", regex=ACCOUNT_SID_PATTERN, required=False, max_length=34,
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."},
        widget=forms.TextInput(attrs={"placeholder": "AC…", "autocomplete": "off",
                                      "spellcheck": "false"}))
    # Write-only: never rendered back into the page (render_value=False).
    auth_token = forms.CharField(
        label="Auth Token", required=False, max_length=128, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
    messaging_service_sid = forms.RegexField(
        label="Messaging Service SID (optional)", regex=MESSAGING_SERVICE_SID_PATTERN,
        required=False, max_length=34,
        error_messages={"invalid": "A Messaging Service SID is MG followed by 32 hexadecimal "
                                   "characters."},
        widget=forms.TextInput(attrs={"placeholder": "MG…", "autocomplete": "off",
                                      "spellcheck": "false"}))

    # Telnyx: the API key (write-only), the account's public key and the messaging profile.
    api_key = forms.CharField(
        label="API key", required=False, max_length=256, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
    public_key = forms.CharField(
        label="Public key", required=False, max_length=64, strip=True,
        help_text="Mission Control → Keys & Credentials → Public Key: verifies Telnyx's webhooks.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    messaging_profile_id = forms.RegexField(
        label="Messaging profile id", regex=r"^[0-9A-Za-z-]{1,64}\Z", required=False,
        error_messages={"invalid": "A messaging profile id is a UUID."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("provider") == ProviderKind.TWILIO and not cleaned.get("account_sid") \
                and "account_sid" not in self.errors:
            self.add_error("account_sid", "Enter your Twilio Account SID.")
        if cleaned.get("provider") == ProviderKind.TELNYX:
            try:
                if len(base64.b64decode(cleaned.get("public_key") or "", validate=True)) != 32:
                    raise ValueError
            except (ValueError, binascii.Error):
                self.add_error("public_key", "Enter the account's Ed25519 public key (base64).")
        return cleaned

    def service_arguments(self) -> dict:
        """The cleaned form as provider_account_set takes it."""
        data = self.cleaned_data
        if data["provider"] == ProviderKind.TELNYX:
            return {"provider": data["provider"], "auth_token": data["api_key"] or None,
                    "settings": {"public_key": data["public_key"],
                                 "messaging_profile_id": data["messaging_profile_id"]}}
        return {"provider": data["provider"], "account_sid": data["account_sid"],
                "auth_token": data["auth_token"] or None,
                "messaging_service_sid": data["messaging_service_sid"]}


class NumberAddForm(forms.Form):
    phone_number = forms.CharField(
        label="Phone number", max_length=MAX_RAW_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "+14155552671", "inputmode": "tel",
                                      "autocomplete": "off"}))
    friendly_name = forms.CharField(label="Friendly name (optional)", max_length=64,
                                    required=False)


class NumberEditForm(forms.Form):
    friendly_name = forms.CharField(label="Friendly name", max_length=64, required=False)


@workspace_page(manage=True)
def carrier(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    account = selectors.workspace_provider_account(workspace=workspace)
    initial = {"provider": account.provider, "account_sid": account.account_sid,
               "messaging_service_sid": account.messaging_service_sid,
               **(account.settings or {})} if account else {}
    form = ProviderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.provider_account_set(workspace=workspace, **form.service_arguments())
        except ApiError as exc:
            add_api_error(form, exc)
        else:
            messages.success(request, "Carrier saved. Next: add a phone number.")
            return redirect("numbers", ws=workspace.pk)
    return render_page(request, "numbers/carrier.html", {
        "form": form, "account": account, "tab": "carrier",
        "accounts": selectors.workspace_carrier_accounts(workspace=workspace),
        "routes": selectors.workspace_routes(workspace=workspace)},
        status=400 if request.method == "POST" else 200)


@require_POST
@workspace_page(manage=True)
def carrier_test(request: HttpRequest) -> HttpResponse:
    try:
        info = services.provider_account_check(workspace=request.workspace)
    except ApiError as exc:
        messages.error(request, f"Connection failed: {exc.detail}")
    else:
        messages.success(request, f"Connected to {info.friendly_name} ({info.account_sid}), "
                                  f"status {info.status}.")
    return redirect("carrier", ws=request.workspace.pk)


def _available_numbers(account, taken: set[str]) -> tuple[list, str]:
    """The carrier account's numbers not in this workspace yet, for one-click adding."""
    try:
        listed = get_provider(account).list_numbers()
    except ProviderError as exc:
        return [], f"The carrier's list of numbers could not be fetched: {exc.message}"
    return [info for info in listed if info.phone_number not in taken], ""


@workspace_page(manage=True)
def numbers(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    account = selectors.workspace_provider_account(workspace=workspace)
    form = NumberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            number = services.number_add(workspace=workspace, **form.cleaned_data)
        except ApiError as exc:
            add_api_error(form, exc, default_field="phone_number")
        else:
            default = " It is your default sender." if number.is_default else ""
            messages.success(request, f"{number.phone_number} added.{default}")
            return redirect("numbers", ws=workspace.pk)
    numbers_ = list(selectors.workspace_numbers(workspace=workspace))
    available, carrier_problem = [], ""
    if account and request.membership.can_manage:
        available, carrier_problem = _available_numbers(account, {n.phone_number for n in numbers_})
    return render_page(request, "numbers/numbers.html", {
        "form": form, "account": account, "numbers": numbers_, "available": available,
        "carrier_problem": carrier_problem, "section": "numbers"},
        status=400 if request.method == "POST" else 200)


@require_POST
@workspace_page(manage=True)
def numbers_import(request: HttpRequest) -> HttpResponse:
    try:
        result = services.numbers_import(workspace=request.workspace)
    except ApiError as exc:
        messages.error(request, str(exc.detail))
    else:
        added = len(result.added)
        note = f"{added} number{'s' if added != 1 else ''} imported"
        if result.skipped:
            note += f", {len(result.skipped)} skipped (already here or in another workspace)"
        messages.success(request, note + ".")
    return redirect("numbers", ws=request.workspace.pk)


def _page_number(request: HttpRequest, number_id: str):
    """One of the page's workspace's numbers; another workspace's is the 404 page."""
    try:
        return selectors.access_number(workspace=request.workspace, number_id=number_id)
    except ApiError as exc:
        raise http_error(exc) from None


@require_POST
@workspace_page(manage=True)
def number_update(request: HttpRequest, number_id: str) -> HttpResponse:
    number = _page_number(request, number_id)
    if "make_default" in request.POST:
        services.number_update(number=number, is_default=True)
        messages.success(request, f"{number.phone_number} is now the default sender.")
    else:
        form = NumberEditForm(request.POST)
        if form.is_valid():
            services.number_update(number=number, friendly_name=form.cleaned_data["friendly_name"])
            messages.success(request, f"{number.phone_number} renamed.")
        else:
            messages.error(request, f"{number.phone_number}: {form.errors['friendly_name'][0]}")
    return redirect("numbers", ws=request.workspace.pk)


@require_POST
@workspace_page(manage=True)
def number_remove(request: HttpRequest, number_id: str) -> HttpResponse:
    number = _page_number(request, number_id)
    services.number_remove(number=number)
    messages.success(request, f"{number.phone_number} removed from this workspace.")
    return redirect("numbers", ws=request.workspace.pk)
