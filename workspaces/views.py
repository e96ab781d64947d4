"""Workspace pages: create, switch, rename, delete; API keys; members and invitations; the home
and account pages (both list the person's workspaces)."""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import services as account_services
from messaging_platform.errors import DomainError

from . import services
from .models import ApiKey, Invitation, Membership, Role
from .pages import add_form_error, flash_error, http_error, render_page, workspace_page
from .selectors import invitation_preview, workspaces_for_user

# Backends that print or drop email instead of delivering it (the embedded default prints).
UNDELIVERED_EMAIL_BACKENDS = ("console.EmailBackend", "dummy.EmailBackend", "filebased.EmailBackend")

# Forms ------------------------------------------------------------------------------------------


class WorkspaceForm(forms.Form):
    name = forms.CharField(
        label="Workspace name",
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "Acme Support", "autocomplete": "organization"}),
    )

    def clean_name(self) -> str:
        try:
            return services.clean_workspace_name(self.cleaned_data["name"])
        except DomainError as exc:
            raise forms.ValidationError(exc.fields["name"][0]) from None


class TimezoneForm(forms.Form):
    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Quiet hours of broadcasts use it for recipients whose number does not tell their zone.",
    )

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
    name = forms.CharField(
        label="Key name", max_length=100, widget=forms.TextInput(attrs={"placeholder": "Production server"})
    )


class InviteForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"placeholder": "name@company.com"})
    )
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
    return render(
        request,
        "workspaces/create.html",
        {"form": form, "my_workspaces": workspaces_for_user(user=request.user)},
    )


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
        delete_form = DeleteWorkspaceForm(request.POST, workspace_name=workspace.name, prefix="delete")
        if delete_form.is_valid():
            try:
                services.workspace_delete(membership=request.membership)
            except DomainError as exc:
                add_form_error(delete_form, exc)
            else:
                messages.success(request, f"The workspace {workspace.name} was deleted.")
                return redirect("home")
    status = 400 if request.method == "POST" else 200
    return render_page(
        request,
        "workspaces/settings.html",
        {
            "rename_form": rename_form,
            "delete_form": delete_form,
            "timezone_form": timezone_form,
            "is_owner": request.membership.role == Role.OWNER,
            "tab": "general",
        },
        status=status,
    )


# API keys ---------------------------------------------------------------------------------------


@workspace_page(manage=True)
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_key_create(actor=request.membership, name=form.cleaned_data["name"])
        except DomainError as exc:
            add_form_error(form, exc)
        else:
            form = ApiKeyForm()
    keys = ApiKey.objects.for_workspace(request.workspace).order_by("revoked_at", "-created_at")
    status = 400 if request.method == "POST" and issued is None else 200
    # The full key appears in this one answer only; it is never stored or shown again.
    return render_page(
        request,
        "workspaces/api_keys.html",
        {"form": form, "keys": keys, "issued": issued, "tab": "api-keys"},
        status=status,
    )


@require_POST
@workspace_page(manage=True)
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    services.api_key_revoke(actor=request.membership, api_key_id=key_id)
    messages.success(request, "The key was revoked; requests made with it now fail.")
    return redirect("api-keys", ws=request.workspace.pk)


# Members and invitations ------------------------------------------------------------------------


@workspace_page(manage=True)
def members(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.invitation_create(actor=request.membership, **form.cleaned_data)
        except DomainError as exc:
            add_form_error(form, exc)
        else:
            email = form.cleaned_data["email"]
            if issued.email_sent is False:
                messages.error(
                    request,
                    f"The invitation email to {email} could not be sent. "
                    "Copy the link below and send it yourself.",
                )
                request.session["invitation_link"] = [email, issued.accept_url]
            elif settings.EMAIL_BACKEND.endswith(UNDELIVERED_EMAIL_BACKENDS):
                messages.info(
                    request,
                    f"Invitation created for {email}. This installation does "
                    "not send email (EMAIL_BACKEND is not set up): copy the link below "
                    "and send it yourself.",
                )
                request.session["invitation_link"] = [email, issued.accept_url]
            elif issued.email_sent:
                messages.success(request, f"Invitation sent to {email}.")
            else:  # inside a wider transaction: the email goes out when it commits
                messages.success(request, f"Invitation created for {email}.")
            return redirect("members", ws=request.workspace.pk)
    memberships = Membership.objects.for_workspace(request.workspace).select_related("user")
    invitations = [i for i in Invitation.objects.for_workspace(request.workspace) if i.status == "pending"]
    # The link is shown once, to the person who made the invitation.
    link = request.session.pop("invitation_link", None) if request.method == "GET" else None
    return render_page(
        request,
        "workspaces/members.html",
        {
            "form": form,
            "memberships": memberships,
            "invitations": invitations,
            "invitation_link": link,
            "roles": Role.choices,
            "tab": "members",
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@workspace_page(manage=True)
def member_change(request: HttpRequest, user_id: str) -> HttpResponse:
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("invalid_params", "Choose owner, admin or member.")
        services.member_change_role(actor=request.membership, user_id=user_id, role=form.cleaned_data["role"])
    except DomainError as exc:
        if exc.code == "not_found":
            raise http_error(exc) from None
        flash_error(request, exc)
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
    except DomainError as exc:
        if exc.code == "not_found":
            raise http_error(exc) from None
        flash_error(request, exc)
        return redirect("members", ws=request.workspace.pk)
    if leaving:
        messages.success(request, f"You left {request.workspace.name}.")
        return redirect("home")
    messages.success(request, "Member removed.")
    return redirect("members", ws=request.workspace.pk)


@require_POST
@workspace_page(manage=True)
def invitation_revoke(request: HttpRequest, invitation_id: str) -> HttpResponse:
    services.invitation_revoke(actor=request.membership, invitation_id=invitation_id)
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
        except DomainError as exc:
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
    context = {
        "token": token,
        "error": error,
        "invitation": invitation,
        "next_query": urlencode({"next": here}),
        "signup_query": urlencode({"next": here, "email": invitation.email if invitation else ""}),
    }
    if request.user.is_authenticated:
        context["my_workspaces"] = workspaces_for_user(user=request.user)
    return render(
        request,
        "workspaces/accept.html",
        context,
        status=400 if error and request.method == "POST" else (200 if invitation or not token else 404),
    )


# The person's pages (they list the workspaces) --------------------------------------------------


@login_required
def home(request):
    return render(request, "home.html", {"workspaces": workspaces_for_user(user=request.user)})


@login_required
def account(request):
    """The account page: change the password, log out everywhere."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and "everywhere" in request.POST:
        ended = account_services.sessions_end_everywhere(user=request.user)
        logout(request)
        messages.success(
            request,
            f"You were logged out everywhere ({ended} API session "
            f"token{'s' if ended != 1 else ''} ended). Log in again.",
        )
        return redirect("login")
    if request.method == "POST" and form.is_valid():
        user = form.save()  # ends every API session token (accounts.models.User.save)
        update_session_auth_hash(request, user)  # this browser stays logged in; others are out
        messages.success(request, "Password changed. Other browsers and API session tokens were logged out.")
        return redirect("account")
    return render(
        request,
        "accounts/account.html",
        {
            "form": form,
            "my_workspaces": workspaces_for_user(user=request.user),
            "token_count": request.user.session_tokens.count(),
        },
        status=400 if request.method == "POST" else 200,
    )
