"""Integrator POSTs of the common shape served without DRF's dispatch: the send endpoints' hot path.

A send does little work of its own (one statement stores it), so DRF's per-request machinery
(the Request wrapper, content negotiation, the authentication, permission and throttle loops,
the exception handler, the response's rendering pipeline) was a large share of its cost. A POST
of the common shape — JSON, a Bearer API key that authenticates, no Idempotency-Key, an Accept
that JSON satisfies — is served here with the same classes and rules the full path uses:
the API key's authentication (the per-process cache), the per-key rate limit (ApiKeyRateLimit,
one Redis round trip) and its headers, the handler, the error format (`describe_exception`) and
the `Allow` header of the view. Anything else answers None before any side effect, and the view
serves the request through DRF as before (a wrong or missing key, a 415, a 406, malformed JSON,
an idempotent retry), so those answers stay DRF's to the letter.

The credentials token is not read on its own here: the request goes on under the token this
process's caches hold, which the store statement checks (credentials.assume_token); a request
that stores nothing reads it before it answers. If it changed, nothing was stored, and the
request is served again from the authentication on, under the new token (counted once against
the rate limit), or by DRF when the key no longer authenticates.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch, get_resolver
from rest_framework.exceptions import ParseError, Throttled

from workspaces.services import api_key_authenticate

from . import credentials
from .authentication import ApiKeyUser
from .exceptions import describe_exception
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .parsers import loads
from .renderers import OrjsonRenderer
from .throttling import ApiKeyRateLimit, rate_limit_headers

_IDEMPOTENCY_META = "HTTP_" + IDEMPOTENCY_HEADER.upper().replace("-", "_")
_JSON_TYPES = frozenset(
    {"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"}
)
_ACCEPTED = frozenset({"", "*/*", "application/json", "application/*"})

# handler(api_key, data) -> (status, answer); raises what the full path's handler raises.
Handler = Callable[[object, object], tuple[int, object]]


def _accepts_json(accept: str) -> bool:
    """True when the Accept header is one of the shapes DRF negotiates to its compact JSON (with
    parameters, such as `indent`, it is DRF's to answer)."""
    if accept in _ACCEPTED:
        return True
    return ";" not in accept and all(part.strip() in _ACCEPTED for part in accept.split(","))


def _bearer(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token.strip():
        return None
    return token.strip()


def _render(status: int, answer, headers: dict[str, str]) -> HttpResponse:
    response = HttpResponse(OrjsonRenderer().render(answer), status=status, content_type="application/json")
    for name, value in headers.items():
        response[name] = value
    return response


def integrator_post(
    request: HttpRequest, allowed_methods: list[str], handler: Handler
) -> HttpResponse | None:
    """Serve an integrator POST of the common shape, or None when the full path must serve it."""
    meta = request.META
    if (
        request.method != "POST"
        or _IDEMPOTENCY_META in meta
        or meta.get("QUERY_STRING")
        or meta.get("CONTENT_TYPE", "").lower() not in _JSON_TYPES
        or not _accepts_json(meta.get("HTTP_ACCEPT", ""))
    ):
        return None
    raw = _bearer(request)
    if raw is None:
        return None
    body = request.body
    if not body:
        return None
    try:
        data = loads(body)
    except ParseError:
        return None
    if type(data) is not dict:
        return None
    headers = {"Allow": ", ".join(allowed_methods)}
    # The credentials token is not read on its own: the store statement checks it (see
    # credentials.assume_token); when it changed, the request is served again under the new one.
    credentials.assume_token()
    throttle = ApiKeyRateLimit()
    allowed: bool | None = None
    for _attempt in range(2):
        try:
            api_key = api_key_authenticate(raw)
        except Exception as exc:  # the database unreachable: a 503, as DRF's handler answers it
            credentials.drop_assumed_token()
            return _error(exc, headers)
        if api_key is None:
            credentials.drop_assumed_token()
            if hasattr(request, "_rate_limit_usage"):
                del request._rate_limit_usage  # counted under a key that no longer works
            return None  # DRF answers the 401 (and counts the failure against the address)
        # What DRF's authentication leaves on the request, for the audit log and the rate limit.
        request.user, request.auth = ApiKeyUser(api_key), api_key
        try:
            if allowed is None:  # counted once, however many times the request is served
                allowed = throttle.allow_request(request, None)
            if not allowed:
                raise Throttled(wait=throttle.wait())
            status, answer = handler(api_key, data)
        except credentials.StaleCredentials:
            continue
        except Exception as exc:
            if not _token_holds():
                continue
            return _error(exc, {**headers, **rate_limit_headers(request)})
        try:
            if not credentials.assumed_token_holds():
                continue
        except Exception as exc:  # the database unreachable
            return _error(exc, {**headers, **rate_limit_headers(request)})
        return _render(status, answer, {**headers, **rate_limit_headers(request)})
    raise RuntimeError("the credentials changed twice under one request")  # never: see above


def _token_holds() -> bool:
    """credentials.assumed_token_holds, for an answer that is an error already: when the token
    cannot be read (the database unreachable), that error stands."""
    try:
        return credentials.assumed_token_holds()
    except Exception:
        credentials.drop_assumed_token()
        return True


def _error(exc: Exception, headers: dict[str, str]) -> HttpResponse:
    """The error answer DRF's exception handler gives for `exc`; an unexpected exception goes on
    to the middleware, which logs it and answers the 500."""
    described = describe_exception(exc)
    if described is None:
        raise exc
    status, answer, error_headers = described
    return _render(status, answer, {**headers, **error_headers})


def serves_raw(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Marks a function view that the raw entry (messaging_platform/raw_entry.py) may call whole,
    without the middleware chain: it answers every request itself, errors included."""
    view.serves_raw = True  # type: ignore[attr-defined]
    return view


# The lean entry: which middlewares serve which paths ------------------------------------------

# What only pages need: sessions, CSRF, the logged-in user, flash messages, static files, the
# health probe. The integrator send endpoints take an API key only, and carrier webhooks are
# signed and CSRF-exempt, so none of these reads or writes anything for them; skipping the six
# was a tenth of a send's web CPU. The rest (metrics, request ids, security and framing headers,
# host validation and Content-Length, the JSON error format, the audit actor, CSP) stay, in order.
PAGE_MIDDLEWARE = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "messaging_platform.health.HealthCheckMiddleware",
    }
)
LEAN_PATHS = frozenset({"/api/messages", "/api/messages/batch"})
WEBHOOKS_PREFIX = "/webhooks/"


def serves_lean(path_info: str) -> bool:
    """The paths the lean entry serves: the integrator's send endpoints and carrier webhooks."""
    return path_info in LEAN_PATHS or path_info.startswith(WEBHOOKS_PREFIX)


# Lean paths resolved once each: the send endpoints, and the webhook paths (one per workspace,
# route and carrier account), up to this many before the memo starts again.
RESOLVED_PATHS_MAX = 4096


class LeanApiHandler(WSGIHandler):
    """Django's WSGI handler with every middleware of settings.MIDDLEWARE but the page ones, and
    the URL of each lean path resolved once (the resolver tries every pattern in order, about 40
    before the webhooks: a tenth of a webhook's web time)."""

    def load_middleware(self, is_async: bool = False) -> None:
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = [path for path in full if path not in PAGE_MIDDLEWARE]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full
        self._resolved: dict[str, ResolverMatch] = {}
        setting_changed.connect(self._forget_resolved, weak=False)

    def _forget_resolved(self, setting: str, **kwargs) -> None:
        if setting == "ROOT_URLCONF":
            self._resolved.clear()

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if hasattr(request, "urlconf"):  # a middleware chose another URLconf: Django resolves it
            return super().resolve_request(request)
        path = request.path_info
        match = self._resolved.get(path)
        if match is None:
            match = get_resolver().resolve(path)  # Resolver404 is not kept: Django answers it
            if len(self._resolved) >= RESOLVED_PATHS_MAX:
                self._resolved.clear()
            self._resolved[path] = match
        request.resolver_match = match
        return match


def with_lean_paths(full: WSGIHandler, lean: WSGIHandler | None = None) -> Callable:
    """The WSGI application: the lean paths through `lean` (a LeanApiHandler), the rest through
    `full`."""
    lean = lean if lean is not None else LeanApiHandler()

    def application(environ, start_response):
        handler = lean if serves_lean(environ.get("PATH_INFO", "")) else full
        return handler(environ, start_response)

    return application
