"""Who is acting: the request being served (set by AuditActorMiddleware), else the system.

Services record changes without being told their caller: the actor is read from the request the
change happens in (the user, the API key, or an operator in the admin).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.http import HttpRequest
from django.urls import reverse

from .models import ActorKind

if TYPE_CHECKING:
    from accounts.models import User
    from workspaces.models import ApiKey

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


@dataclass(frozen=True)
class Actor:
    kind: str
    user: "User | None" = None
    api_key: "ApiKey | None" = None
    label: str = ""


SYSTEM = Actor(kind=ActorKind.SYSTEM, label="system")


def acting_user(user) -> Actor:
    """A user acting for themselves, where the service knows them (creating a workspace)."""
    return Actor(kind=ActorKind.USER, user=user, label=user.email)


def actor_from_request(request: HttpRequest) -> Actor:
    from workspaces.models import ApiKey

    # DRF copies its authentication result onto the Django request (user and auth).
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return Actor(kind=ActorKind.API_KEY, api_key=auth, label=f"{auth.name} ({auth.prefix}…)")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "pk", None):
        operator = request.path.startswith(reverse("admin:index"))
        return Actor(kind=ActorKind.OPERATOR if operator else ActorKind.USER, user=user, label=user.email)
    return SYSTEM


def current_actor() -> Actor:
    request = _request.get()
    return SYSTEM if request is None else actor_from_request(request)


@contextmanager
def serving(request: HttpRequest) -> Iterator[None]:
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)
