"""Workspace pages: create, switch, rename, delete; API keys; members and invitations.

Also the helpers every workspace page uses: `workspace_page` resolves the workspace from the URL
with the same membership check as the API (another workspace's pages answer 404), and
`add_api_error` shows a service's ApiError as inline form errors.
"""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from messaging_platform.api.errors import ApiError

from . import services
from .models import ApiKey, Invitation, Membership, Role
from .selectors import access_workspace, invitation_preview, workspaces_for_user

# Backends that print or drop email instead of delivering it (the embedded default prints).
UNDELIVERED_EMAIL_BACKENDS = ("console.EmailBackend", "dummy.EmailBackend", "filebased.EmailBackend")

# Helpers shared by the numbers and messaging pages -----------------------------------------------


def http_error(exc: ApiError) -> Exception:
    """The page equivalent of an API error that is not about a form field."""
    if exc.status_code == 404:
        return Http404(str(exc.detail))
    if exc.status_code == 403:
        return PermissionDenied(str(exc.detail))
    return exc


def workspace_page(view: Callable | None = None, *, manage: bool = False):
    """Log-in required; `request.membership` and `request.workspace` from the URL's `ws`.

    With `manage=True`, only owners and admins may POST (members still read the page).
    """

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, ws: str, *args, **kwargs) -> HttpResponse:
            try:
                request.membership = access_workspace(user=request.user, workspace_id=ws)
            except ApiError as exc:
                raise http_error(exc) from None
            request.workspace = request.membership.workspace
            if manage and request.method == "POST" and not request.membership.can_manage:
                raise PermissionDenied("Only owners and admins of this workspace can do this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view else decorator


def render_page(request: HttpRequest, template: str, context: dict | None = None,
                status: int = 200) -> HttpResponse:
    """Render a workspace page with the layout's context: the workspace and the switcher."""
    base = {
        "workspace": request.workspace,
        "membership": request.membership,
        "can_manage": request.membership.can_manage,
        "my_workspaces": workspaces_for_user(user=request.user),
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def add_api_error(form: forms.Form, exc: ApiError, field_names: dict[str, str] | None = None,
                  *, default_field: str | None = None) -> None:
    """Put a service's error next to the field it is about (or `default_field`), else above the form."""
    placed = False
    for name, errors in (exc.fields or {}).items():
        name = (field_names or {}).get(name, name)
        if name in form.fields:
            for error in errors:
                form.add_error(name, str(error))
            placed = True
    if not placed:
        form.add_error(default_field if default_field in form.fields else None, str(exc.detail))


# Forms ------------------------------------------------------------------------------------------


class WorkspaceForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=100,
                           widget=forms.TextInput(attrs={"placeholder": "Acme Support",
                                                         "autocomplete": "organization"}))

    def clean_name(self) -> str:
        try:
            return services.clean_workspace_name(self.cleaned_data["name"])
        except ApiError as exc:
            raise forms.ValidationError(exc.fields["name"][0]) from None


class TimezoneForm(forms.Form):
    timezone = forms.ChoiceField(
        label="Time zone", help_text="Quiet hours of broadcasts use it for recipients whose number "
                                     "does not tell their zone.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(z, z) for z in sorted(services.zone_names())]


class DeleteWorkspaceForm(forms.Form):
    confirm = forms.CharField(label="Type the workspace name to confirm", max_length=100)

    def __init__(self, *args, workspace_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.workspace_name = workspace_name

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"].strip() != self.workspace_name:
            raise forms.ValidationError("That is not the name of this workspace.")
        return self.cleaned_data["confirm"]


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100,
                           widget=forms.TextInput(attrs={"placeholder": "Production server"}))


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(
        attrs={"placeholder": "name@company.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


# Workspaces -------------------------------------------------------------------------------------


@login_required
def workspace_create(request: HttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = services.workspace_create(user=request.user, name=form.cleaned_data["name"])
        messages.success(request, f"Welcome to {workspace.name}. Next: choose a carrier.")
        return redirect("carrier", ws=workspace.pk)
    return render(request, "workspaces/create.html", {
        "form": form, "my_workspaces": workspaces_for_user(user=request.user)})


@workspace_page
def workspace_home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard", ws=request.workspace.pk)


@workspace_page(manage=True)
def workspace_settings(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    rename_form = WorkspaceForm(initial={"name": workspace.name}, prefix="rename")
    delete_form = DeleteWorkspaceForm(workspace_name=workspace.name, prefix="delete")
    timezone_form = TimezoneForm(initial={"timezone": workspace.timezone}, prefix="tz")
    if request.method == "POST" and "timezone" in request.POST:
        timezone_form = TimezoneForm(request.POST, prefix="tz")
        if timezone_form.is_valid():
            services.workspace_update(workspace=workspace, zone=timezone_form.cleaned_data["timezone"])
            messages.success(request, "Time zone saved.")
            return redirect("ws-settings", ws=workspace.pk)
    elif request.method == "POST" and "rename" in request.POST:
        rename_form = WorkspaceForm(request.POST, prefix="rename")
        if rename_form.is_valid():
            services.workspace_rename(workspace=workspace, name=rename_form.cleaned_data["name"])
            messages.success(request, "Workspace renamed.")
            return redirect("ws-settings", ws=workspace.pk)
    elif request.method == "POST" and "delete" in request.POST:
        delete_form = DeleteWorkspaceForm(request.POST, workspace_name=workspace.name,
                                          prefix="delete")
        if delete_form.is_valid():
            try:
                services.workspace_delete(membership=request.membership)
            except ApiError as exc:
                add_api_error(delete_form, exc)
            else:
                messages.success(request, f"The workspace {workspace.name} was deleted.")
                return redirect("home")
    status = 400 if request.method == "POST" else 200
    return render_page(request, "workspaces/settings.html", {
        "rename_form": rename_form, "delete_form": delete_form, "timezone_form": timezone_form,
        "is_owner":
        request.membership.role == Role.OWNER, "tab": "general"}, status=status)


# API keys ---------------------------------------------------------------------------------------


@workspace_page(manage=True)
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_key_create(actor=request.membership, name=form.cleaned_data["name"])
        except ApiError as exc:
            add_api_error(form, exc)
        else:
            form = ApiKeyForm()
    keys = ApiKey.objects.for_workspace(request.workspace).order_by("revoked_at", "-created_at")
    status = 400 if request.method == "POST" and issued is None else 200
    # The full key appears in this one answer only; it is never stored or shown again.
    return render_page(request, "workspaces/api_keys.html", {
        "form": form, "keys": keys, "issued": issued, "tab": "api-keys"}, status=status)


@require_POST
@workspace_page(manage=True)
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    try:
        services.api_key_revoke(actor=request.membership, api_key_id=key_id)
    except ApiError as exc:
        raise http_error(exc) from None
    messages.success(request, "The key was revoked; requests made with it now fail.")
    return redirect("api-keys", ws=request.workspace.pk)


# Members and invitations ------------------------------------------------------------------------


@workspace_page(manage=True)
def members(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.invitation_create(actor=request.membership, **form.cleaned_data)
        except ApiError as exc:
            add_api_error(form, exc)
        else:
            email = form.cleaned_data["email"]
            if issued.email_sent is False:
                messages.error(request, f"The invitation email to {email} could not be sent. "
                               "Copy the link below and send it yourself.")
                request.session["invitation_link"] = [email, issued.accept_url]
            elif settings.EMAIL_BACKEND.endswith(UNDELIVERED_EMAIL_BACKENDS):
                messages.info(request, f"Invitation created for {email}. This installation does "
                              "not send email (EMAIL_BACKEND is not set up): copy the link below "
                              "and send it yourself.")
                request.session["invitation_link"] = [email, issued.accept_url]
            elif issued.email_sent:
                messages.success(request, f"Invitation sent to {email}.")
            else:  # inside a wider transaction: the email goes out when it commits
                messages.success(request, f"Invitation created for {email}.")
            return redirect("members", ws=request.workspace.pk)
    memberships = Membership.objects.for_workspace(request.workspace).select_related("user")
    invitations = [i for i in Invitation.objects.for_workspace(request.workspace)
                   if i.status == "pending"]
    # The link is shown once, to the person who made the invitation.
    link = request.session.pop("invitation_link", None) if request.method == "GET" else None
    return render_page(request, "workspaces/members.html", {
        "form": form, "memberships": memberships, "invitations": invitations,
        "invitation_link": link, "roles": Role.choices, "tab": "members"},
        status=400 if request.method == "POST" else 200)


@require_POST
@workspace_page(manage=True)
def member_change(request: HttpRequest, user_id: str) -> HttpResponse:
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ApiError("invalid_params", "Choose owner, admin or member.")
        services.member_change_role(actor=request.membership, user_id=user_id,
                                    role=form.cleaned_data["role"])
    except ApiError as exc:
        if exc.status_code == 404:
            raise http_error(exc) from None
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, "Role changed.")
    return redirect("members", ws=request.workspace.pk)


@require_POST
@workspace_page
def member_remove(request: HttpRequest, user_id: str) -> HttpResponse:
    # Any member may leave; removing someone else needs a manager (the service checks).
    leaving = user_id == request.user.pk
    try:
        services.member_remove(actor=request.membership, user_id=user_id)
    except ApiError as exc:
        if exc.status_code == 404:
            raise http_error(exc) from None
        messages.error(request, str(exc.detail))
        return redirect("members", ws=request.workspace.pk)
    if leaving:
        messages.success(request, f"You left {request.workspace.name}.")
        return redirect("home")
    messages.success(request, "Member removed.")
    return redirect("members", ws=request.workspace.pk)


@require_POST
@workspace_page(manage=True)
def invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    try:
        services.invitation_revoke(actor=request.membership, invitation_id=invitation_id)
    except ApiError as exc:
        raise http_error(exc) from None
    messages.success(request, "Invitation revoked.")
    return redirect("members", ws=request.workspace.pk)


def invitation_accept(request: HttpRequest) -> HttpResponse:
    """The link of an invitation email: who invites you, to which workspace, with which role;
    sign up or log in (the invitation is kept through both), then accept."""
    token = (request.POST.get("token") or request.GET.get("token") or "")[:200]
    error = None
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.invitation_accept(user=request.user, token=token)
        except ApiError as exc:
            error = str(exc.detail)
        else:
            messages.success(request, f"You joined {membership.workspace.name}.")
            return redirect(reverse("inbox", kwargs={"ws": membership.workspace_id}))
    invitation = invitation_preview(token=token)
    if invitation and request.user.is_authenticated and invitation.email != request.user.email:
        # Signed in as someone else: answered like an unknown token (it names nothing).
        invitation = None
        error = error or services.INVITATION_UNAVAILABLE
    here = f"{reverse('invitation-accept-page')}?{urlencode({'token': token})}"
    context = {"token": token, "error": error, "invitation": invitation,
               "next_query": urlencode({"next": here}),
               "signup_query": urlencode({"next": here, "email": invitation.email if invitation else ""})}
    if request.user.is_authenticated:
        context["my_workspaces"] = workspaces_for_user(user=request.user)
    return render(request, "workspaces/accept.html", context,
                  status=400 if error and request.method == "POST" else (
                      200 if invitation or not token else 404))
