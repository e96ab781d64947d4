"""The raw entry: the hot paths' requests served without Django's middleware chain (part of the
WSGI application's composition: it stands in for middlewares of every layer).

A send (`POST /api/messages`, `/api/messages/batch`) or a carrier webhook does little work of its
own, and the chain around its view — nine exception wrappers, each middleware's hooks looked up
and called, the view's `as_view` wrapper, CSP's policy built anew for every answer — cost about
a fifth of its web CPU. LeanApiHandler (lean.py) already keeps only the middlewares an API answer
needs; RawApiHandler runs those same middlewares' own functions, in the chain's order, around the
view's own code, and nothing else:

- before the view: the request id (RequestIdMiddleware), the HTTPS redirect (SecurityMiddleware),
  the declared length and NUL checks (ApiErrorMiddleware), the user agent, host validation and
  `www` redirect (CommonMiddleware), the audit actor (AuditActorMiddleware), the log context of
  the view's arguments (RequestIdMiddleware.process_view);
- the view: a send view's `lean_dispatch` (integrator_post: the common request shape), a
  carrier webhook's view function whole (marked with lean.serves_raw);
- after it: CSP's header (computed once per path and status by CSPMiddleware itself, on a probe
  answer: it depends on nothing else for these views), X-Frame-Options, Content-Length, the
  security headers, the request id header, the metrics (HttpMetricsMiddleware.observe).

Django's handler still builds the request, sends request_started/request_finished, logs 4xx/5xx
answers (log_response) and writes the answer; only its middleware chain is replaced, and only
when the request is one of these. Anything else, or anything out of the ordinary before the view
has a side effect (a redirect, a refused host or user agent, an over-long body, a NUL, an
unauthenticated or idempotent send, a body that is not a JSON object…), goes through the full
chain on the same request, which answers it as before; so does every request while the
configured middlewares are not the ones this entry knows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, ResolverMatch

from messaging.operations.logs import RequestIdMiddleware, request_context
from messaging.operations.metrics import HttpMetricsMiddleware
from messaging_platform.api.lean import PAGE_MIDDLEWARE, LeanApiHandler
from messaging_platform.api.middleware import ApiErrorMiddleware, refusal_before_view
from workspaces.audit.context import serving

# The middlewares LeanApiHandler runs, in order, that this entry stands in for. When the
# configured list differs, every request goes through the chain.
KNOWN_MIDDLEWARE = [
    "messaging.operations.metrics.HttpMetricsMiddleware",
    "messaging.operations.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "messaging_platform.api.middleware.ApiErrorMiddleware",
    "django.middleware.common.CommonMiddleware",
    "workspaces.audit.middleware.AuditActorMiddleware",  # its `serving`
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]
CSP_MEMO_MAX = 4096

RawView = Callable[[HttpRequest, ResolverMatch], HttpResponse | None]


def _raw_view(match: ResolverMatch) -> RawView | None:
    """How the raw entry serves the view of `match`, or None when it does not."""
    func = match.func
    view_class = getattr(func, "view_class", None)
    if view_class is not None and hasattr(view_class, "lean_dispatch"):
        initkwargs = getattr(func, "view_initkwargs", {})

        def lean(request: HttpRequest, match: ResolverMatch) -> HttpResponse | None:
            view = view_class(**initkwargs)
            view.setup(request, *match.args, **match.kwargs)  # as as_view's view does (HEAD…)
            return view.lean_dispatch(request)

        return lean
    if getattr(func, "serves_raw", False):
        return lambda request, match: func(request, *match.args, **match.kwargs)
    return None


def _nothing(request: HttpRequest) -> HttpResponse:  # the middlewares' get_response, never called
    raise AssertionError("the raw entry calls the middlewares' hooks, not their chain")


class RawApiHandler(LeanApiHandler):
    """LeanApiHandler whose middleware chain the hot paths' requests skip (module docstring)."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async)
        self._chain: Callable[[HttpRequest], HttpResponseBase] = self._middleware_chain  # type: ignore[has-type]
        self._middleware_chain = self._raw_or_chain
        self._raw_views: dict[Callable, RawView | None] = {}
        self._csp_memo: dict[tuple[str, int], list[tuple[str, str]]] = {}
        self._setup_raw()
        setting_changed.connect(self._setting_changed, weak=False)

    def _setting_changed(self, setting: str, **kwargs) -> None:
        self._setup_raw()

    def _setup_raw(self) -> None:
        """The middleware instances whose hooks the raw entry calls, from the current settings."""
        self._csp_memo = {}
        self._raw_views = {}
        kept = [path for path in settings.MIDDLEWARE if path not in PAGE_MIDDLEWARE]
        self._raw_ready = kept == KNOWN_MIDDLEWARE
        if not self._raw_ready:
            return
        from csp.middleware import CSPMiddleware

        try:
            self._metrics = HttpMetricsMiddleware(_nothing)
            self._request_ids = RequestIdMiddleware(_nothing)
            self._security = SecurityMiddleware(_nothing)
            self._api_errors = ApiErrorMiddleware(_nothing)
            self._common = CommonMiddleware(_nothing)
            self._frames = XFrameOptionsMiddleware(_nothing)
            self._csp = CSPMiddleware(_nothing)
        except MiddlewareNotUsed:
            self._raw_ready = False

    def _raw_or_chain(self, request: HttpRequest) -> HttpResponseBase:
        response = self._raw(request) if self._raw_ready and request.method == "POST" else None
        return response if response is not None else self._chain(request)

    def _match(self, request: HttpRequest) -> tuple[ResolverMatch, RawView] | None:
        try:
            match = self.resolve_request(request)
        except Resolver404:
            return None
        if match.func not in self._raw_views:  # one per view: a handful
            self._raw_views[match.func] = _raw_view(match)
        view = self._raw_views[match.func]
        return (match, view) if view is not None else None

    def _raw(self, request: HttpRequest) -> HttpResponseBase | None:
        """The answer of the chain for this request, or None when the chain must serve it."""
        started = time.perf_counter()
        with request_context(self._request_ids.request_id(request)) as request_id:
            # What the chain's middlewares would answer instead of the view: the chain answers it.
            if (
                self._security.process_request(request) is not None
                or refusal_before_view(request)
                or self._common_refuses(request)
            ):
                return None
            found = self._match(request)
            if found is None:
                return None
            match, view = found
            with serving(request):
                self._request_ids.process_view(request, match.func, match.args, match.kwargs)
                try:
                    response = view(request, match)
                except Exception as exc:
                    response = self._api_errors.process_exception(request, exc)
                if response is None:
                    return None
                response = self._with_csp(request, response)
                response = self._frames.process_response(request, response)
            answer = self._common.process_response(request, response)  # a 404's slash redirect
            answer = self._security.process_response(request, cast(HttpResponse, answer))
        answer[self._request_ids.header] = request_id
        self._metrics.observe(request, answer, started)
        return answer

    def _common_refuses(self, request: HttpRequest) -> bool:
        try:
            return self._common.process_request(request) is not None
        except Exception:  # a refused user agent or host: the chain answers it (and logs it)
            return True

    def _with_csp(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """CSPMiddleware.process_response, its headers computed once per path and status: for
        an answer that no CSP decorator marked, they depend on nothing else."""
        if any(name.startswith("_csp") for name in vars(response)):
            return cast(HttpResponse, self._csp.process_response(request, response))
        key = (request.path_info, response.status_code)
        added = self._csp_memo.get(key)
        if added is None:
            probe = HttpResponse(status=response.status_code)
            before = set(probe.headers)
            self._csp.process_response(request, probe)
            added = [(name, value) for name, value in probe.headers.items() if name not in before]
            if len(self._csp_memo) >= CSP_MEMO_MAX:
                self._csp_memo.clear()
            self._csp_memo[key] = added
            request.__dict__.pop("csp_nonce", None)  # what the probe left on the request
        for name, value in added:
            if name not in response:
                response[name] = value
        return response
