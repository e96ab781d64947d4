"""Inbox, threads, the composer, the messages log and the opt-out list (server-rendered pages).

Sending goes through the same validation (SendInputSerializer) and service (`message_send`) as
`POST /api/messages`; live updates come from the workspace's WebSocket (static/js/app.js).
"""

from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from messaging_platform.errors import DomainError
from numbers.providers import get_provider
from numbers.providers.base import Capability
from numbers.selectors import default_sender, workspace_numbers, workspace_provider_account
from workspaces.models import ApiKey
from workspaces.pages import add_form_error, flash_error, render_page, workspace_page

from . import lifecycle, selectors, sending
from . import opt_outs as opt_out_services
from .contacts import contact_names
from .conversations import conversation_mark_read
from .filters import MAX_SEARCH_LENGTH, MessageFilters, page_message_filters
from .list_counts import CountedQuerySet, count_through
from .models import Direction, Message, Status
from .segments import MAX_BODY_CHARACTERS
from .serializers import SendInputSerializer

THREAD_LENGTH = 200
LOG_PAGE_SIZE = 50
# Form field names for the API's field names, so that errors land beside the right input.
SEND_FIELDS = {
    "from": "from_number",
    "media_urls": "media_url",
    "mediaUrl": "media_url",
    "scheduled_at": "send_at",
}
LOG_FIELDS = {"startDate": "start", "endDate": "end", "from": "from_"}


class ComposeForm(forms.Form):
    to = forms.CharField(
        label="To",
        max_length=64,
        widget=forms.TextInput(
            attrs={"placeholder": "+14155552671", "inputmode": "tel", "autocomplete": "off"}
        ),
    )
    from_number = forms.ChoiceField(label="From", required=False)
    body = forms.CharField(
        label="Message",
        max_length=MAX_BODY_CHARACTERS,
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": "Write a message…",
                "data-segments": "",
                "maxlength": MAX_BODY_CHARACTERS,
            }
        ),
    )
    media_url = forms.URLField(
        label="Image URL (MMS, optional)",
        max_length=2000,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://…"}),
    )
    # A wall-clock time in the workspace's time zone (the label names it).
    send_at = forms.DateTimeField(
        label="Send at",
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, numbers=(), zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.fields["send_at"].label = f"Send at ({zone} time)"
        self.fields["from_number"].choices = [("", "Default number")] + [
            (n.phone_number, f"{n.phone_number} · {n.friendly_name}" if n.friendly_name else n.phone_number)
            for n in numbers
        ]


class ReplyForm(forms.Form):
    prefix = "reply"  # beside the composer's `body` on the same page
    body = forms.CharField(
        label="Simulated reply",
        max_length=MAX_BODY_CHARACTERS,
        widget=forms.TextInput(attrs={"placeholder": "Reply as the contact…"}),
    )


class LogFilterForm(forms.Form):
    direction = forms.ChoiceField(required=False, choices=[("", "Any direction"), *Direction.choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Status.choices])
    from_ = forms.CharField(label="From", required=False, max_length=64)
    to = forms.CharField(required=False, max_length=64)
    start = forms.DateField(label="From date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To date", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    search = forms.CharField(
        required=False,
        max_length=MAX_SEARCH_LENGTH,
        widget=forms.SearchInput(attrs={"placeholder": "Text in the message"}),
    )
    # Both halves of one conversation (the thread's "Log" link).
    conversation = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def add_prefix(self, field_name: str) -> str:
        return "from" if field_name == "from_" else super().add_prefix(field_name)

    def message_filters(self) -> MessageFilters:
        data = self.cleaned_data
        return page_message_filters(
            direction=data["direction"],
            status=data["status"],
            from_number=data["from_"].strip(),
            to_number=data["to"].strip(),
            start=data["start"],
            end=data["end"],
            search=data["search"].strip(),
            conversation_id=data["conversation"].strip(),
        )


def _zone(workspace) -> str:
    """The workspace's time zone name, UTC if it is not one this system knows."""
    try:
        ZoneInfo(workspace.timezone)
    except (ValueError, KeyError, OSError):
        return "UTC"
    return workspace.timezone


def setup_steps(workspace) -> list[dict]:
    """The getting-started checklist shown until a workspace has sent its first message."""
    has_account = workspace_provider_account(workspace=workspace) is not None
    return [
        {
            "label": "Choose a carrier",
            "done": has_account,
            "url": "carrier",
            "hint": "Start with the built-in simulator: no account needed.",
        },
        {
            "label": "Add a phone number",
            "done": default_sender(workspace=workspace) is not None,
            "url": "numbers",
            "hint": "Import one of your carrier's numbers with one click.",
        },
        {
            "label": "Create an API key",
            "url": "api-keys",
            "done": ApiKey.objects.for_workspace(workspace).exists(),
            "hint": "For your own code to send through the API.",
        },
        {
            "label": "Send your first message",
            "url": "inbox",
            "done": Message.objects.for_workspace(workspace).exists(),
            "hint": "Use the composer, and watch it turn delivered.",
        },
    ]


def _send(request: HttpRequest, form: ComposeForm) -> Message | None:
    """Validate like the API and send; on failure the errors are on the form."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    payload = {"to": data["to"], "body": data["body"]}
    if data["from_number"]:
        payload["from"] = data["from_number"]
    if data["media_url"]:
        payload["media_urls"] = [data["media_url"]]
    if data["send_at"]:
        # The field read the time in the server's zone; the person meant the workspace's.
        wall_clock = timezone.make_naive(data["send_at"])
        payload["scheduled_at"] = wall_clock.replace(tzinfo=ZoneInfo(form.zone)).isoformat()
    try:
        serializer = SendInputSerializer(data=payload)
        if not serializer.is_valid():
            add_form_error(
                form,
                DomainError("invalid_params", "Check the message.", fields=serializer.errors),
                SEND_FIELDS,
            )
            return None
        fields = serializer.validated_data
        return sending.message_send(
            workspace=request.workspace,
            to=fields["to"],
            body=fields["body"],
            media_urls=fields["media_urls"],
            from_number=fields.get("from"),
            scheduled_at=fields.get("scheduled_at"),
            sent_by=request.user,
        )
    except DomainError as exc:
        add_form_error(form, exc, SEND_FIELDS)
        return None


def _inbox(
    request: HttpRequest,
    conversation=None,
    *,
    form: ComposeForm | None = None,
    reply_form: ReplyForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = request.workspace
    numbers = list(workspace_numbers(workspace=workspace))
    thread = []
    if form is None:
        form = _failed_compose(request, conversation, numbers)
    if conversation is not None:
        recent = selectors.message_list(
            workspace=workspace, filters=MessageFilters(conversation_id=conversation.pk)
        )
        thread = list(reversed(recent[:THREAD_LENGTH]))
        if form is None:
            our_number = (
                conversation.our_number
                if any(n.phone_number == conversation.our_number for n in numbers)
                else ""
            )
            form = ComposeForm(
                numbers=numbers,
                zone=_zone(workspace),
                initial={"to": conversation.contact_number, "from_number": our_number},
            )
    opt_out = None
    if conversation is not None:
        opt_out = opt_out_services.opt_out_for(workspace=workspace, phone_number=conversation.contact_number)
    account = workspace_provider_account(workspace=workspace)
    can_simulate = account is not None and Capability.SIMULATE_INBOUND in get_provider(account).capabilities
    steps = setup_steps(workspace)
    return render_page(
        request,
        "messaging/inbox.html",
        {
            "conversations": selectors.conversation_list(workspace=workspace)[:100],
            "conversation": conversation,
            "thread": thread,
            "form": form or ComposeForm(numbers=numbers, zone=_zone(workspace)),
            "opt_out": opt_out,
            "reply_form": reply_form or ReplyForm(),
            "can_simulate": can_simulate,
            "steps": steps,
            "setup_done": all(step["done"] for step in steps),
            "section": "inbox",
            "now": timezone.now(),
        },
        status=status,
    )


@workspace_page
def inbox(request: HttpRequest) -> HttpResponse:
    return _inbox(request)


@workspace_page
def thread(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = selectors.access_conversation(workspace=request.workspace, conversation_id=conversation_id)
    if conversation.unread_count:
        conversation_mark_read(conversation=conversation)
    return _inbox(request, conversation)


COMPOSE_SESSION_KEY = "compose-error"
COMPOSE_FIELDS = ("to", "from_number", "body", "media_url", "send_at", "conversation")


@workspace_page
def send(request: HttpRequest) -> HttpResponse:
    # Sending is every member's work, as in the API. A GET (a bookmark, an old tab) goes to the inbox.
    if request.method != "POST":
        return redirect("inbox", ws=request.workspace.pk)
    form = ComposeForm(
        request.POST, numbers=workspace_numbers(workspace=request.workspace), zone=_zone(request.workspace)
    )
    message = _send(request, form)
    if message is not None:
        return redirect("thread", ws=request.workspace.pk, conversation_id=message.conversation_id)
    # Post/redirect/get: the errors and what was typed wait in the session for the page the
    # composer was on, so a refresh does not send again and the URL stays the thread's.
    conversation = None
    if conversation_id := request.POST.get("conversation", "")[:64]:
        conversation = (
            selectors.conversation_list(workspace=request.workspace).filter(pk=conversation_id).first()
        )
    request.session[COMPOSE_SESSION_KEY] = {
        "conversation": conversation.pk if conversation else "",
        "data": {name: request.POST.get(name, "")[:2000] for name in COMPOSE_FIELDS},
        "errors": {name: [str(e) for e in errors] for name, errors in form.errors.items()},
    }
    if conversation is not None:
        return redirect("thread", ws=request.workspace.pk, conversation_id=conversation.pk)
    return redirect("inbox", ws=request.workspace.pk)


def _failed_compose(request: HttpRequest, conversation, numbers) -> ComposeForm | None:
    """The composer of a send that failed just before, with its errors, shown once."""
    stash = request.session.get(COMPOSE_SESSION_KEY)
    if not stash or stash.get("conversation") != (conversation.pk if conversation else ""):
        return None
    del request.session[COMPOSE_SESSION_KEY]
    form = ComposeForm(stash["data"], numbers=numbers, zone=_zone(request.workspace))
    form.is_valid()
    for name, errors in stash["errors"].items():
        field = None if name == "__all__" else name
        for error in errors:
            if error not in form.errors.get(name or "__all__", []):
                form.add_error(field, error)
    return form


@require_POST
@workspace_page
def simulate_reply(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = selectors.access_conversation(workspace=request.workspace, conversation_id=conversation_id)
    form = ReplyForm(request.POST)
    account = workspace_provider_account(workspace=request.workspace)
    provider = get_provider(account) if account else None
    if form.is_valid() and (provider is None or Capability.SIMULATE_INBOUND not in provider.capabilities):
        form.add_error(None, "Replies can only be simulated with the simulator carrier.")
    if not form.is_valid():
        return _inbox(request, conversation, reply_form=form, status=400)
    provider.simulate_inbound(conversation.contact_number, conversation.our_number, form.cleaned_data["body"])
    return redirect("thread", ws=request.workspace.pk, conversation_id=conversation.pk)


def _page_number(text: str | None) -> int:
    """The page a `?page=` asks for, as Paginator.get_page reads it (anything else: the first)."""
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


@workspace_page
def message_log(request: HttpRequest) -> HttpResponse:
    form = LogFilterForm(request.GET)
    found = Message.objects.none()
    if form.is_valid():
        try:
            found = selectors.message_list(workspace=request.workspace, filters=form.message_filters())
        except DomainError as exc:
            add_form_error(form, exc, LOG_FIELDS)
    # A search is counted only so far past the page asked for (messaging.list_counts.bounded).
    paginator, end = Paginator(found, LOG_PAGE_SIZE), _page_number(request.GET.get("page")) * LOG_PAGE_SIZE
    paginator.count = count_through(found, end)
    at_least = (
        found.ahead is not None and paginator.count >= end + found.ahead
        if isinstance(found, CountedQuerySet)
        else False
    )
    page = paginator.get_page(request.GET.get("page"))
    names = contact_names(
        workspace_id=request.workspace.pk,
        phone_numbers=(m.from_number if m.direction == "inbound" else m.to_number for m in page.object_list),
    )
    for m in page.object_list:
        m.contact_name = names.get(m.from_number if m.direction == "inbound" else m.to_number)
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(
        request,
        "messaging/log.html",
        {
            "form": form,
            "page": page,
            "count_at_least": at_least,
            "query": query.urlencode(),
            "filtered": bool(query),
            "section": "messages",
            "now": timezone.now(),
        },
        status=200 if not form.errors else 400,
    )


@workspace_page
def message_detail(request: HttpRequest, message_id: str) -> HttpResponse:
    message = selectors.access_message(workspace=request.workspace, message_id=message_id)
    return render_page(
        request,
        "messaging/detail.html",
        {"message": message, "events": message.events.all(), "section": "messages"},
    )


class OptOutForm(forms.Form):
    phone_number = forms.CharField(
        label="Phone number",
        max_length=64,
        widget=forms.TextInput(
            attrs={"placeholder": "+14155552671", "inputmode": "tel", "autocomplete": "off"}
        ),
    )


@workspace_page(manage=True)
def opt_outs(request: HttpRequest) -> HttpResponse:
    form = OptOutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            opt_out = opt_out_services.opt_out_add(
                workspace=request.workspace, phone_number=form.cleaned_data["phone_number"]
            )
        except DomainError as exc:
            add_form_error(form, exc, default_field="phone_number")
        else:
            messages.success(request, f"{opt_out.phone_number} opted out: messages to it are refused.")
            return redirect("opt-outs", ws=request.workspace.pk)
    page = Paginator(selectors.opt_out_list(workspace=request.workspace), 100).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "messaging/opt_outs.html",
        {"page": page, "form": form, "tab": "opt-outs"},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@workspace_page(manage=True)
def opt_out_remove(request: HttpRequest) -> HttpResponse:
    number = request.POST.get("phone_number", "")[:64]
    opt_out_services.opt_out_remove(workspace=request.workspace, phone_number=number)
    messages.success(request, f"{number} may receive messages again.")
    return redirect("opt-outs", ws=request.workspace.pk)


@workspace_page
def thread_consent(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """Whether the thread's contact opted out (the page asks when a message arrives in it)."""
    conversation = selectors.access_conversation(workspace=request.workspace, conversation_id=conversation_id)
    opt_out = opt_out_services.opt_out_for(
        workspace=request.workspace, phone_number=conversation.contact_number
    )
    return JsonResponse(
        {
            "opted_out": opt_out is not None,
            "keyword": opt_out.keyword if opt_out else "",
            "since": opt_out.created_at.isoformat() if opt_out else None,
        }
    )


def _back(request: HttpRequest, message: Message) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("log-detail", ws=request.workspace.pk, message_id=message.pk)


def _message_change(request: HttpRequest, message_id: str, change, done: str) -> HttpResponse:
    message = selectors.access_message(workspace=request.workspace, message_id=message_id)
    try:
        if message.direction == Direction.OUTBOUND and change is lifecycle.message_retry:
            sending.ensure_not_opted_out(workspace=request.workspace, to_number=message.to_number)
        change(message=message, source="web")
    except DomainError as exc:
        flash_error(request, exc)
    else:
        messages.success(request, done)
    return _back(request, message)


@require_POST
@workspace_page
def message_retry(request: HttpRequest, message_id: str) -> HttpResponse:
    # Every member may send, so every member may send a failed message again.
    return _message_change(request, message_id, lifecycle.message_retry, "The message was queued again.")


@require_POST
@workspace_page
def message_cancel(request: HttpRequest, message_id: str) -> HttpResponse:
    return _message_change(
        request, message_id, lifecycle.message_cancel, "The scheduled message was canceled."
    )
