"""What every workspace page uses: the workspace from the URL, the layout, and domain errors.

`workspace_page` resolves the workspace with the same membership check as the API (another
workspace's pages answer 404). A domain error becomes, for a page: a 404 or 403 (`http_error`,
also applied to any such error a page lets escape), an inline form error (`add_form_error`), or a
flash message (`flash_error`).
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from messaging_platform.errors import DomainError

from .models import Membership, Workspace
from .selectors import access_workspace, workspaces_for_user


class WorkspaceRequest(HttpRequest):
    """A request to a workspace page, once `workspace_page` has resolved its workspace."""

    workspace: Workspace
    membership: Membership


PageView = Callable[..., HttpResponse]


def http_error(exc: DomainError) -> Exception:
    """The page equivalent of a domain error that is not about a form field."""
    if exc.code == "not_found":
        return Http404(exc.detail)
    if exc.code == "forbidden":
        return PermissionDenied(exc.detail)
    return exc


def workspace_page(view: PageView | None = None, *, manage: bool = False) -> Any:
    """Log-in required; `request.membership` and `request.workspace` from the URL's `ws`.

    With `manage=True`, only owners and admins may POST (members still read the page).
    """

    def decorator(view: PageView) -> PageView:
        @login_required
        @wraps(view)
        def wrapper(request: WorkspaceRequest, ws: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                request.membership = access_workspace(user=request.user, workspace_id=ws)
            except DomainError as exc:
                raise http_error(exc) from None
            request.workspace = request.membership.workspace
            if manage and request.method == "POST" and not request.membership.can_manage:
                raise PermissionDenied("Only owners and admins of this workspace can do this.")
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                raise http_error(exc) from None

        return wrapper

    return decorator(view) if view else decorator


def render_page(
    request: WorkspaceRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    """Render a workspace page with the layout's context: the workspace and the switcher."""
    base = {
        "workspace": request.workspace,
        "membership": request.membership,
        "can_manage": request.membership.can_manage,
        "my_workspaces": workspaces_for_user(user=request.user),
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def add_form_error(
    form: forms.Form,
    exc: DomainError,
    field_names: dict[str, str] | None = None,
    *,
    default_field: str | None = None,
) -> None:
    """Put a domain error next to the field it is about (or `default_field`), else above the form."""
    placed = False
    for name, errors in (exc.fields or {}).items():
        name = (field_names or {}).get(name, name)
        if name in form.fields:
            for error in errors:
                form.add_error(name, str(error))
            placed = True
    if not placed:
        form.add_error(default_field if default_field in form.fields else None, exc.detail)


def flash_error(request: HttpRequest, exc: DomainError, prefix: str = "") -> None:
    """A domain error as the next page's error message."""
    messages.error(request, f"{prefix}{exc.detail}")
