"""The campaign pages: contacts (with import and export), templates and broadcasts. Each calls the
same services as the UI API; errors are shown on the form or as a flash."""

from django import forms
from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from messaging_platform.errors import DomainError
from numbers.selectors import workspace_numbers
from workspaces.pages import add_form_error, flash_error, render_page, workspace_page

from . import broadcasts, contacts, message_templates
from .models import BroadcastStatus


class ContactForm(forms.Form):
    phone_number = forms.CharField(
        max_length=64, label="Phone number", help_text="E.164, for example +14155552671."
    )
    name = forms.CharField(max_length=200, required=False)
    tags = forms.CharField(max_length=500, required=False, help_text="Separated by commas.")


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row with phone_number; name, tags "
        "(separated by ;) and any other column become the contact's fields.",
    )


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "data-template-body": ""}),
        help_text="Use {{name}}, {{phone_number}} or any field, with a default after a pipe: {{name|there}}.",
    )


class BroadcastForm(forms.Form):
    AUDIENCES = [("all", "Every contact"), ("tags", "Contacts with any of these tags")]

    name = forms.CharField(max_length=200)
    template = forms.ChoiceField(required=False, label="Template")
    body = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "data-template-body": ""}),
        help_text="Or write the message here; variables as in templates.",
    )
    audience = forms.ChoiceField(choices=AUDIENCES, initial="all", widget=forms.RadioSelect)
    tags = forms.CharField(required=False, max_length=500, help_text="Separated by commas.")
    sender = forms.ChoiceField(required=False, label="From")
    scheduled_at = forms.DateTimeField(
        required=False,
        label="Send at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty to send once you confirm.",
    )
    quiet_start = forms.CharField(
        required=False, label="Quiet hours from", max_length=5, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_end = forms.CharField(
        required=False, label="until", max_length=5, widget=forms.TimeInput(attrs={"type": "time"})
    )
    validity_hours = forms.IntegerField(
        required=False, min_value=1, max_value=336, label="Give up after (hours)"
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "— none —")] + [
            (t.id, t.name) for t in message_templates.template_list(workspace=workspace)
        ]
        self.fields["sender"].choices = [("", "The default number")] + [
            (n.phone_number, f"{n.phone_number} {n.friendly_name}".strip())
            for n in workspace_numbers(workspace=workspace)
        ]


def _tags(raw: str) -> list[str]:
    return [t.strip() for t in raw.split(",") if t.strip()]


@workspace_page
def contact_list(request: HttpRequest) -> HttpResponse:
    form, import_form = ContactForm(), ImportForm()
    if request.method == "POST" and request.POST.get("action") == "import":
        import_form = ImportForm(request.POST, request.FILES)
        if import_form.is_valid():
            upload = import_form.cleaned_data["file"]
            try:
                job = contacts.contact_import_start(
                    workspace=request.workspace,
                    stream=contacts.read_upload(upload),
                    filename=upload.name,
                    created_by=request.user,
                )
            except DomainError as exc:
                add_form_error(import_form, exc, default_field="file")
            else:
                return redirect("contact-import-page", ws=request.workspace.pk, import_id=job.id)
    elif request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            try:
                contact = contacts.contact_create(
                    workspace=request.workspace,
                    phone_number=form.cleaned_data["phone_number"],
                    name=form.cleaned_data["name"],
                    tags=_tags(form.cleaned_data["tags"]),
                )
            except DomainError as exc:
                add_form_error(form, exc)
            else:
                flash.success(request, f"Added {contact.name or contact.phone_number}.")
                return redirect("contacts", ws=request.workspace.pk)
    search, tag = request.GET.get("search", ""), request.GET.get("tag", "")
    try:
        found = contacts.contact_list(workspace=request.workspace, search=search, tags=[tag] if tag else [])
    except DomainError as exc:
        flash_error(request, exc)
        found = contacts.contact_list(workspace=request.workspace)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    return render_page(
        request,
        "campaigns/contacts.html",
        {
            "page": page,
            "form": form,
            "import_form": import_form,
            "search": search,
            "tag": tag,
            "section": "contacts",
            "query": request.GET.urlencode(),
        },
    )


@workspace_page
@require_POST
def contact_delete(request: HttpRequest, contact_id: str) -> HttpResponse:
    contact = contacts.access_contact(workspace=request.workspace, contact_id=contact_id)
    contacts.contact_delete(contact=contact)
    flash.success(request, f"Deleted {contact.name or contact.phone_number}.")
    return redirect("contacts", ws=request.workspace.pk)


@workspace_page
def contact_import(request: HttpRequest, import_id: str) -> HttpResponse:
    job = contacts.access_contact_import(workspace=request.workspace, import_id=import_id)
    return render_page(request, "campaigns/import.html", {"job": job, "section": "contacts"})


@workspace_page
def template_list(request: HttpRequest) -> HttpResponse:
    form = TemplateForm()
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                template = message_templates.template_create(workspace=request.workspace, **form.cleaned_data)
            except DomainError as exc:
                add_form_error(form, exc)
            else:
                flash.success(request, f"Saved the template {template.name}.")
                return redirect("templates", ws=request.workspace.pk)
    return render_page(
        request,
        "campaigns/templates.html",
        {
            "templates": message_templates.template_list(workspace=request.workspace),
            "form": form,
            "section": "broadcasts",
        },
    )


@workspace_page
def template_edit(request: HttpRequest, template_id: str) -> HttpResponse:
    template = message_templates.access_template(workspace=request.workspace, template_id=template_id)
    if request.method == "POST" and request.POST.get("action") == "delete":
        message_templates.template_delete(template=template)
        flash.success(request, f"Deleted the template {template.name}.")
        return redirect("templates", ws=request.workspace.pk)
    form = TemplateForm(initial={"name": template.name, "body": template.body})
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                message_templates.template_update(template=template, **form.cleaned_data)
            except DomainError as exc:
                add_form_error(form, exc)
            else:
                flash.success(request, "Template saved.")
                return redirect("templates", ws=request.workspace.pk)
    return render_page(
        request, "campaigns/template_edit.html", {"template": template, "form": form, "section": "broadcasts"}
    )


@workspace_page
def broadcast_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(broadcasts.broadcast_list(workspace=request.workspace), 50).get_page(
        request.GET.get("page")
    )
    rows = [(b, broadcasts.broadcast_counts(b)) for b in page.object_list]
    return render_page(
        request, "campaigns/broadcasts.html", {"page": page, "rows": rows, "section": "broadcasts"}
    )


@workspace_page
def broadcast_new(request: HttpRequest) -> HttpResponse:
    form = BroadcastForm(workspace=request.workspace)
    if request.method == "POST":
        form = BroadcastForm(request.POST, workspace=request.workspace)
        if form.is_valid():
            data = form.cleaned_data
            quiet = (
                {"start": data["quiet_start"], "end": data["quiet_end"]}
                if data["quiet_start"] or data["quiet_end"]
                else None
            )
            try:
                broadcast = broadcasts.broadcast_create(
                    workspace=request.workspace,
                    name=data["name"],
                    template_id=data["template"] or None,
                    body=None if data["template"] else data["body"],
                    audience={"all": True} if data["audience"] == "all" else {"tags": _tags(data["tags"])},
                    from_number=data["sender"] or None,
                    scheduled_at=data["scheduled_at"].isoformat() if data["scheduled_at"] else None,
                    quiet_hours=quiet,
                    validity_period=data["validity_hours"] * 3600 if data["validity_hours"] else None,
                    draft=True,
                    created_by=request.user,
                )
            except DomainError as exc:
                add_form_error(
                    form,
                    exc,
                    field_names={
                        "audience": "tags",
                        "from": "sender",
                        "template_id": "template",
                        "validity_period": "validity_hours",
                        "quiet_hours": "quiet_start",
                    },
                    default_field="body",
                )
            else:
                return redirect("broadcast-page", ws=request.workspace.pk, broadcast_id=broadcast.id)
    return render_page(request, "campaigns/broadcast_new.html", {"form": form, "section": "broadcasts"})


@workspace_page
def broadcast_detail(request: HttpRequest, broadcast_id: str) -> HttpResponse:
    broadcast = broadcasts.access_broadcast(workspace=request.workspace, broadcast_id=broadcast_id)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "send":
                broadcasts.broadcast_start(broadcast=broadcast)
                flash.success(
                    request,
                    "The broadcast is on its way."
                    if not broadcast.scheduled_at
                    else "The broadcast is scheduled.",
                )
            elif request.POST.get("action") == "cancel":
                broadcasts.broadcast_cancel(broadcast=broadcast, source="ui")
                flash.success(request, "Broadcast canceled: its unsent messages will not go.")
        except DomainError as exc:
            flash_error(request, exc)
        return redirect("broadcast-page", ws=request.workspace.pk, broadcast_id=broadcast.id)
    preview = (
        broadcasts.broadcast_preview(broadcast=broadcast)
        if broadcast.status == BroadcastStatus.DRAFT
        else None
    )
    counts = broadcasts.broadcast_counts(broadcast)
    done = sum(
        counts[k]
        for k in (
            "sent",
            "delivered",
            "failed",
            "undelivered",
            "canceled",
            "skipped_opted_out",
            "skipped_invalid",
        )
    )
    return render_page(
        request,
        "campaigns/broadcast.html",
        {"broadcast": broadcast, "counts": counts, "done": done, "preview": preview, "section": "broadcasts"},
    )
