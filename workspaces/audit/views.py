"""The workspace's audit log page (Settings → Audit log): owners and admins only."""

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from messaging_platform.errors import DomainError
from workspaces.pages import render_page, workspace_page

from . import selectors
from .models import FAMILIES

PAGE_SIZE = 50


@workspace_page
def audit_log(request: HttpRequest) -> HttpResponse:
    if not request.membership.can_manage:
        raise PermissionDenied("Only owners and admins of this workspace can see its audit log.")
    kind = request.GET.get("kind", "")
    try:
        records = selectors.audit_log(workspace=request.workspace, filters={"kind": kind})
    except DomainError:
        kind, records = "", selectors.audit_log(workspace=request.workspace, filters={})
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "audit/audit_log.html",
        {"tab": "audit-log", "page": page, "kind": kind, "families": FAMILIES},
    )
