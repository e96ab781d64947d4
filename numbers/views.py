"""Numbers and carrier-account pages. Members read; owners and admins change (as in the API).

The carrier-account and route pages check their input with the API's own serializers and change
things through the same services, so a page and the API accept and refuse the same.
"""

import base64
import binascii
import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST
from rest_framework import serializers as drf

from messaging_platform.errors import DomainError
from workspaces.pages import add_form_error, flash_error, http_error, render_page, workspace_page

from . import selectors, services
from .models import CarrierAccountStatus, ProviderKind
from .phone import MAX_RAW_LENGTH
from .providers import get_provider
from .providers.base import ProviderError
from .serializers import (
    ACCOUNT_SID_PATTERN,
    MESSAGING_SERVICE_SID_PATTERN,
    CarrierAccountInputSerializer,
    CarrierRouteInputSerializer,
)


class ProviderForm(forms.Form):
    # SMPP has its own page (carrier_account_new): its settings do not fit this quick form.
    provider = forms.ChoiceField(
        label="Carrier",
        choices=[(kind.value, kind.label) for kind in ProviderKind if kind != ProviderKind.SMPP],
        widget=forms.RadioSelect,
        initial=ProviderKind.SIMULATOR,
    )
    account_sid = forms.RegexField(
        label="Account SID",
        regex=ACCOUNT_SID_PATTERN,
        required=False,
        max_length=34,
        error_messages={"invalid": "An Account SID is AC followed by 32 hexadecimal characters."},
        widget=forms.TextInput(attrs={"placeholder": "AC…", "autocomplete": "off", "spellcheck": "false"}),
    )
    # Write-only: never rendered back into the page (render_value=False).
    auth_token = forms.CharField(
        label="Auth Token",
        required=False,
        max_length=128,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    messaging_service_sid = forms.RegexField(
        label="Messaging Service SID (optional)",
        regex=MESSAGING_SERVICE_SID_PATTERN,
        required=False,
        max_length=34,
        error_messages={"invalid": "A Messaging Service SID is MG followed by 32 hexadecimal characters."},
        widget=forms.TextInput(attrs={"placeholder": "MG…", "autocomplete": "off", "spellcheck": "false"}),
    )

    # Telnyx: the API key (write-only), the account's public key and the messaging profile.
    api_key = forms.CharField(
        label="API key",
        required=False,
        max_length=256,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    public_key = forms.CharField(
        label="Public key",
        required=False,
        max_length=64,
        strip=True,
        help_text="Mission Control → Keys & Credentials → Public Key: verifies Telnyx's webhooks.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    messaging_profile_id = forms.RegexField(
        label="Messaging profile id",
        regex=r"^[0-9A-Za-z-]{1,64}\Z",
        required=False,
        error_messages={"invalid": "A messaging profile id is a UUID."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("provider") == ProviderKind.TWILIO
            and not cleaned.get("account_sid")
            and "account_sid" not in self.errors
        ):
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
            return {
                "provider": data["provider"],
                "auth_token": data["api_key"] or None,
                "settings": {
                    "public_key": data["public_key"],
                    "messaging_profile_id": data["messaging_profile_id"],
                },
            }
        return {
            "provider": data["provider"],
            "account_sid": data["account_sid"],
            "auth_token": data["auth_token"] or None,
            "messaging_service_sid": data["messaging_service_sid"],
        }


class NumberAddForm(forms.Form):
    phone_number = forms.CharField(
        label="Phone number",
        max_length=MAX_RAW_LENGTH,
        widget=forms.TextInput(
            attrs={"placeholder": "+14155552671", "inputmode": "tel", "autocomplete": "off"}
        ),
    )
    friendly_name = forms.CharField(label="Friendly name (optional)", max_length=64, required=False)


class NumberEditForm(forms.Form):
    friendly_name = forms.CharField(label="Friendly name", max_length=64, required=False)


@workspace_page(manage=True)
def carrier(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    account = selectors.workspace_provider_account(workspace=workspace)
    initial = (
        {
            "provider": account.provider,
            "account_sid": account.account_sid,
            "messaging_service_sid": account.messaging_service_sid,
            **(account.settings or {}),
        }
        if account
        else {}
    )
    form = ProviderForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.provider_account_set(workspace=workspace, **form.service_arguments())
        except DomainError as exc:
            add_form_error(form, exc)
        else:
            messages.success(request, "Carrier saved. Next: add a phone number.")
            return redirect("numbers", ws=workspace.pk)
    accounts = selectors.workspace_carrier_accounts(workspace=workspace)
    return render_page(
        request,
        "numbers/carrier.html",
        {
            "form": form,
            "account": account,
            "tab": "carrier",
            "accounts": [_account_row(a) for a in accounts],
            # Every kind: whether the workspace may add one more is the service's to say.
            "addable": [(kind.value, kind.label, KIND_INTRO[kind]) for kind in ProviderKind],
            "routes": _ordered_routes(workspace),
        },
        status=400 if request.method == "POST" else 200,
    )


def _account_row(account) -> dict:
    """One line of the accounts table: its non-secret settings in words, and whether its secret
    is set (never the secret)."""
    values = account.settings or {}
    if account.provider == ProviderKind.SMPP:
        throughput = values.get("throughput")
        facts = [
            ("SMSC", f"{values.get('host', '')}:{values.get('port', 2775)}"),
            ("system_id", values.get("system_id", "")),
            ("system_type", values.get("system_type") or "—"),
            ("TLS", "on" if values.get("tls") else "off"),
            ("Throughput", f"{throughput:g}/s" if throughput else "no limit"),
        ]
    elif account.provider == ProviderKind.TWILIO:
        facts = [
            ("Account SID", account.account_sid),
            ("Messaging Service", account.messaging_service_sid or "—"),
        ]
    elif account.provider == ProviderKind.TELNYX:
        facts = [("Messaging profile", values.get("messaging_profile_id") or "—")]
    else:
        facts = []
    secret = SECRET_FIELD.get(account.provider)
    return {
        "account": account,
        "label": _account_label(account),
        "facts": facts,
        "secret": (CarrierAccountForm.base_fields[secret].label, account.auth_token_set) if secret else None,
    }


@require_POST
@workspace_page(manage=True)
def carrier_test(request: HttpRequest) -> HttpResponse:
    try:
        info = services.provider_account_check(workspace=request.workspace)
    except DomainError as exc:
        flash_error(request, exc, "Connection failed: ")
    else:
        messages.success(
            request, f"Connected to {info.friendly_name} ({info.account_sid}), status {info.status}."
        )
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
        except DomainError as exc:
            add_form_error(form, exc, default_field="phone_number")
        else:
            default = " It is your default sender." if number.is_default else ""
            messages.success(request, f"{number.phone_number} added.{default}")
            return redirect("numbers", ws=workspace.pk)
    numbers_ = list(selectors.workspace_numbers(workspace=workspace))
    available, carrier_problem = [], ""
    if account and request.membership.can_manage:
        available, carrier_problem = _available_numbers(account, {n.phone_number for n in numbers_})
    return render_page(
        request,
        "numbers/numbers.html",
        {
            "form": form,
            "account": account,
            "numbers": numbers_,
            "available": available,
            "carrier_problem": carrier_problem,
            "section": "numbers",
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@workspace_page(manage=True)
def numbers_import(request: HttpRequest) -> HttpResponse:
    try:
        result = services.numbers_import(workspace=request.workspace)
    except DomainError as exc:
        flash_error(request, exc)
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
    except DomainError as exc:
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


# Carrier accounts -----------------------------------------------------------------------------

# The secret of each kind of account, as the API names it (write-only, shown only as "set").
SECRET_FIELD = {
    ProviderKind.TWILIO: "auth_token",
    ProviderKind.TELNYX: "api_key",
    ProviderKind.SMPP: "password",
}
ACCOUNT_FIELDS = {
    ProviderKind.TWILIO: ("name", "account_sid", "auth_token", "messaging_service_sid"),
    ProviderKind.TELNYX: ("name", "api_key", "public_key", "messaging_profile_id"),
    ProviderKind.SMPP: (
        "name",
        "host",
        "port",
        "system_id",
        "password",
        "system_type",
        "tls",
        "throughput",
        "uncertain_submits",
        "senders",
    ),
    ProviderKind.SIMULATOR: ("name",),
}
KIND_INTRO = {
    ProviderKind.TWILIO: "Send real SMS/MMS with your Twilio account.",
    ProviderKind.TELNYX: "Send real SMS/MMS with your Telnyx account (Messages API v2).",
    ProviderKind.SMPP: "Reach any SMSC over SMPP 3.4: an operator, an aggregator, Kannel or Jasmin.",
    ProviderKind.SIMULATOR: "Built in. No account, no real texts: try the whole flow.",
}


def _text(label: str, **attrs) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", **attrs}),
    )


def _secret(label: str) -> forms.CharField:
    # Write-only: never rendered back into the page (render_value=False).
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class CarrierAccountForm(forms.Form):
    """The fields of one kind of carrier account. It only collects and shows them: the API's
    CarrierAccountInputSerializer decides what is valid."""

    name = forms.CharField(
        label="Name (optional)",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Europe traffic"}),
    )
    account_sid = _text("Account SID", placeholder="AC…")
    auth_token = _secret("Auth Token")
    messaging_service_sid = _text("Messaging Service SID (optional)", placeholder="MG…")
    api_key = _secret("API key")
    public_key = _text("Public key")
    messaging_profile_id = _text("Messaging profile id (optional)")
    host = _text("SMSC host", placeholder="smsc.example.net")
    port = forms.CharField(
        label="Port", required=False, initial="2775", widget=forms.TextInput(attrs={"inputmode": "numeric"})
    )
    system_id = _text("system_id")
    password = _secret("Password")
    system_type = _text("system_type (optional)")
    tls = forms.BooleanField(label="Connect over TLS", required=False)
    throughput = forms.CharField(
        label="Throughput (submit_sm per second, optional)",
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "no limit"}),
    )
    uncertain_submits = forms.ChoiceField(
        label="A submit_sm whose answer was lost",
        required=False,
        initial="resend",
        choices=[("resend", "Send it again (at least once)"), ("fail", "Fail it (at most once)")],
    )
    senders = forms.CharField(
        label="Senders (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": "+14155552671\nACME"}),
    )

    HELP = {
        "public_key": "Mission Control → Keys & Credentials → Public Key: verifies Telnyx's webhooks.",
        "system_type": "Only if your SMSC asks for one.",
        "senders": "One a line: numbers (E.164), short codes or alphanumeric sender ids the SMSC allows.",
        "port": "2775 unless your SMSC says otherwise.",
    }

    def __init__(self, provider: str, *args, secrets_set: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.provider = provider
        for name in list(self.fields):
            if name not in ACCOUNT_FIELDS[provider]:
                del self.fields[name]
        for name, text in self.HELP.items():
            if name in self.fields:
                self.fields[name].help_text = text
        secret = SECRET_FIELD.get(provider)
        if secret:
            self.fields[secret].help_text = (
                "Set (stored encrypted). Leave this empty to keep it."
                if secrets_set
                else "Stored encrypted, never shown again."
            )

    def payload(self) -> dict:
        """The submitted fields as the API takes them: empty ones left out (a left-out secret
        keeps the stored one), TLS as a boolean, senders as a list."""
        data: dict = {"provider": self.provider}
        for name in self.fields:
            value = self.data.get(name, "")
            if name == "tls":
                data["tls"] = value not in ("", "false", "off")
            elif name == "senders":
                data["senders"] = [line.strip() for line in re.split(r"[\n,]", value) if line.strip()]
            elif name in SECRET_FIELD.values():
                if value:
                    data[name] = value
            elif value.strip():
                data[name] = value.strip()
        return data


def _drf_errors(form: forms.Form, exc: drf.ValidationError) -> None:
    detail = exc.detail if isinstance(exc.detail, dict) else {None: exc.detail}
    for name, errors in detail.items():
        field = name if name in form.fields else None
        for error in errors if isinstance(errors, list) else [errors]:
            if isinstance(error, dict):  # a list field's item errors
                error = "; ".join(str(e) for sub in error.values() for e in sub)
            form.add_error(field, str(error))


def _checked(form: forms.Form, serializer_class, data: dict) -> dict | None:
    """The API serializer's validated data, or None with its errors on the form's fields."""
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except drf.ValidationError as exc:
        _drf_errors(form, exc)
        return None
    return dict(serializer.validated_data)


def _require_manager(request: HttpRequest) -> None:
    # The forms themselves, not only their POSTs: members see the accounts, never a form.
    if not request.membership.can_manage:
        raise PermissionDenied("Only owners and admins of this workspace can do this.")


def _page_account(request: HttpRequest, account_id: str):
    try:
        return selectors.access_carrier_account(workspace=request.workspace, account_id=account_id)
    except DomainError as exc:
        raise http_error(exc) from None


def _account_label(account) -> str:
    return account.name or f"The {account.get_provider_display()} account"


@workspace_page(manage=True)
def carrier_account_new(request: HttpRequest, provider: str) -> HttpResponse:
    _require_manager(request)
    if provider not in ACCOUNT_FIELDS:
        raise Http404("No such carrier.")
    form = CarrierAccountForm(provider, request.POST or None)
    if request.method == "POST":
        data = _checked(form, CarrierAccountInputSerializer, form.payload())
        if data is not None:
            try:
                account = services.carrier_account_add(workspace=request.workspace, **data)
            except DomainError as exc:
                add_form_error(form, exc, {"auth_token": SECRET_FIELD.get(provider, "auth_token")})
            else:
                primary = " It is the primary account." if account.is_primary else ""
                messages.success(
                    request,
                    f"{_account_label(account)} was added: the carrier accepted its credentials.{primary}",
                )
                return redirect("carrier", ws=request.workspace.pk)
    return render_page(
        request,
        "numbers/carrier_account_form.html",
        {
            "form": form,
            "provider": provider,
            "provider_label": ProviderKind(provider).label,
            "intro": KIND_INTRO[provider],
            "tab": "carrier",
            "account": None,
        },
        status=400 if request.method == "POST" else 200,
    )


def _account_initial(account) -> dict:
    values = dict(account.settings or {})
    values["senders"] = "\n".join(values.get("senders") or [])
    if values.get("throughput") is not None:
        values["throughput"] = f"{values['throughput']:g}"
    return {
        **values,
        "name": account.name,
        "account_sid": account.account_sid,
        "messaging_service_sid": account.messaging_service_sid,
    }


def _update_arguments(provider: str, data: dict) -> dict:
    """The checked form as carrier_account_update takes it (as PATCH …/carriers/{id} does)."""
    data.pop("provider", None)
    if provider == ProviderKind.SMPP:
        data.setdefault("throughput", None)  # an emptied field: no limit
        return data
    if provider == ProviderKind.SIMULATOR:
        return {"name": data.get("name", "")}
    # Telnyx: the serializer has turned api_key into auth_token and built its settings.
    return data


@workspace_page(manage=True)
def carrier_account_edit(request: HttpRequest, account_id: str) -> HttpResponse:
    _require_manager(request)
    account = _page_account(request, account_id)
    form = CarrierAccountForm(
        account.provider,
        request.POST or None,
        initial=_account_initial(account),
        secrets_set=account.auth_token_set,
    )
    if request.method == "POST":
        data = _checked(form, CarrierAccountInputSerializer, form.payload())
        if data is not None:
            data.setdefault("name", "")
            try:
                account = services.carrier_account_update(
                    account=account, **_update_arguments(account.provider, data)
                )
            except DomainError as exc:
                add_form_error(form, exc, {"auth_token": SECRET_FIELD.get(account.provider, "auth_token")})
            else:
                messages.success(request, f"{_account_label(account)} was saved.")
                return redirect("carrier", ws=request.workspace.pk)
    return render_page(
        request,
        "numbers/carrier_account_form.html",
        {
            "form": form,
            "provider": account.provider,
            "provider_label": account.get_provider_display(),
            "intro": KIND_INTRO[account.provider],
            "tab": "carrier",
            "account": account,
        },
        status=400 if request.method == "POST" else 200,
    )


def _connection_words(account, info) -> str:
    if account.provider == ProviderKind.SMPP:
        return (
            f"Connection works: bound to the SMSC ({info.friendly_name.removeprefix('SMPP ')}) "
            f"as {info.account_sid}, then unbound."
        )
    return (
        f"Connection works: {info.friendly_name} ({info.account_sid}) answered, account status {info.status}."
    )


@require_POST
@workspace_page(manage=True)
def carrier_account_test(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _page_account(request, account_id)
    label = _account_label(account)
    try:
        info = services.carrier_account_check(account=account)
    except DomainError as exc:
        flash_error(request, exc, f"{label}: the connection failed. ")
    else:
        messages.success(request, f"{label}: {_connection_words(account, info)}")
    return redirect("carrier", ws=request.workspace.pk)


@require_POST
@workspace_page(manage=True)
def carrier_account_change(request: HttpRequest, account_id: str) -> HttpResponse:
    """Make primary, disable or enable (the buttons of the accounts table)."""
    account = _page_account(request, account_id)
    action = request.POST.get("action")
    arguments = {
        "primary": {"is_primary": True},
        "disable": {"status": CarrierAccountStatus.DISABLED},
        "enable": {"status": CarrierAccountStatus.ACTIVE},
    }.get(action)
    if arguments is None:
        messages.error(request, "Choose make primary, disable or enable.")
        return redirect("carrier", ws=request.workspace.pk)
    try:
        account = services.carrier_account_update(account=account, **arguments)
    except DomainError as exc:
        flash_error(request, exc, f"{_account_label(account)}: ")
    else:
        done = {
            "primary": "is now the primary account",
            "disable": "is disabled: it sends nothing and no route chooses it",
            "enable": "is enabled",
        }[action]
        messages.success(request, f"{_account_label(account)} {done}.")
    return redirect("carrier", ws=request.workspace.pk)


@require_POST
@workspace_page(manage=True)
def carrier_account_remove(request: HttpRequest, account_id: str) -> HttpResponse:
    account = _page_account(request, account_id)
    label = _account_label(account)
    try:
        services.carrier_account_remove(account=account)
    except DomainError as exc:
        flash_error(request, exc, f"{label}: ")
    else:
        messages.success(request, f"{label} was removed.")
    return redirect("carrier", ws=request.workspace.pk)


# Routes ---------------------------------------------------------------------------------------


class RouteForm(forms.Form):
    """A new routing rule; CarrierRouteInputSerializer and carrier_route_set decide what is valid."""

    prefix = forms.CharField(
        label="Destinations starting with",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "+44", "inputmode": "tel", "autocomplete": "off"}),
    )
    account_id = forms.ChoiceField(label="Send through", required=False)
    sender_id = forms.ChoiceField(label="From", required=False)
    fallback_account_id = forms.ChoiceField(label="If that account does not take it", required=False)

    def __init__(self, *args, accounts, numbers, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [
            (a.uid, f"{a.name or a.get_provider_display()} ({a.get_provider_display()})") for a in accounts
        ]
        self.fields["account_id"].choices = choices
        self.fields["sender_id"].choices = [
            ("", "The account's default number"),
            *[(n.pk, n.phone_number) for n in numbers],
        ]
        self.fields["fallback_account_id"].choices = [("", "No fallback"), *choices]

    def payload(self, position: int) -> dict:
        data = {name: self.data.get(name, "").strip() for name in self.fields}
        for name in ("sender_id", "fallback_account_id"):
            data[name] = data[name] or None
        return {**{k: v for k, v in data.items() if v != ""}, "position": position}


def _ordered_routes(workspace) -> list:
    # The order route_for tries them in: by position, then the longest prefix.
    return sorted(
        selectors.workspace_routes(workspace=workspace),
        key=lambda r: (r.position, -len(r.prefix), r.created_at),
    )


@workspace_page(manage=True)
def carrier_routes(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    accounts = list(selectors.workspace_carrier_accounts(workspace=workspace))
    routes = _ordered_routes(workspace)
    form = RouteForm(
        request.POST or None, accounts=accounts, numbers=selectors.workspace_numbers(workspace=workspace)
    )
    if request.method == "POST":
        position = max((r.position for r in routes), default=-1) + 1  # added last
        data = _checked(form, CarrierRouteInputSerializer, form.payload(position))
        if data is not None:
            try:
                route = services.carrier_route_set(workspace=workspace, fields_given=frozenset(data), **data)
            except DomainError as exc:
                add_form_error(form, exc, default_field="prefix")
            else:
                messages.success(
                    request,
                    f"Route added: destinations starting with {route.prefix} "
                    f"go through {_account_label(route.account)}.",
                )
                return redirect("carrier-routes", ws=workspace.pk)
    return render_page(
        request,
        "numbers/routes.html",
        {"form": form, "routes": routes, "accounts": accounts, "tab": "carrier"},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@workspace_page(manage=True)
def carrier_route_move(request: HttpRequest, route_id: str) -> HttpResponse:
    """Move a rule one place up or down: every rule gets its place in the new order as its
    position (through carrier_route_set, as PATCH …/routes/{id} {"position"} does)."""
    workspace = request.workspace
    routes = _ordered_routes(workspace)
    index = next((i for i, r in enumerate(routes) if r.id == route_id), None)
    if index is None:
        raise Http404("Route not found.")
    other = index - 1 if request.POST.get("direction") == "up" else index + 1
    if 0 <= other < len(routes):
        routes[index], routes[other] = routes[other], routes[index]
        with transaction.atomic():
            for position, route in enumerate(routes):
                if route.position != position:
                    services.carrier_route_set(
                        workspace=workspace,
                        route=route,
                        position=position,
                        fields_given=frozenset({"position"}),
                    )
        messages.success(
            request, f"The route for {routes[other].prefix} moved {'up' if other < index else 'down'}."
        )
    return redirect("carrier-routes", ws=workspace.pk)


@require_POST
@workspace_page(manage=True)
def carrier_route_remove(request: HttpRequest, route_id: str) -> HttpResponse:
    try:
        route = selectors.access_route(workspace=request.workspace, route_id=route_id)
    except DomainError as exc:
        raise http_error(exc) from None
    services.carrier_route_remove(route=route)
    messages.success(request, f"The route for {route.prefix} was removed.")
    return redirect("carrier-routes", ws=request.workspace.pk)
