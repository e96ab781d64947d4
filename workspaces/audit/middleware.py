from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .context import serving


class AuditActorMiddleware:
    """Makes the request's user or API key the actor of the changes recorded while it is served."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with serving(request):
            return self.get_response(request)
