"""Log context: a request id that follows a message from the HTTP request into its Celery tasks,
and the ids a log line is about (workspace, message, carrier sid).

RequestIdMiddleware starts the context of a request (the caller's `X-Request-ID` if it is a sane
one, else a new id, echoed in the answer); Celery's publish signal carries it to every task the
request enqueues, and the prerun signal restores it in the worker, with the task's message or
workspace id. LogContextFilter puts it all on every record, for the JSON formatter (production)
or the plain one (`make run`, where it shows as `[req …]`).
"""

import contextlib
import functools
import inspect
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
CONTEXT_FIELDS = ("request_id", "workspace_id", "message_id", "carrier_sid")

_context: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)


def current() -> dict[str, str]:
    return _context.get() or {}


def bind(**values: str | None) -> None:
    """Add ids to this request's or task's log context (None or "" leaves a field out)."""
    _context.set({**current(), **{k: str(v) for k, v in values.items() if v}})


def new_request_id() -> str:
    return uuid.uuid4().hex


class LogContextFilter(logging.Filter):
    """Every record gets the context's fields (empty strings when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, context.get(name, ""))
        return True


class PlainFormatter(logging.Formatter):
    """The development format, with the request id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name.split('_')[0]}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, ""))
        )
        return f"{line} [{ids}]" if ids else line


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[str]:
    """The log context of a request, from its id alone, for as long as it is served."""
    token = _context.set({"request_id": request_id})
    try:
        yield request_id
    finally:
        _context.reset(token)


class RequestIdMiddleware:
    header = REQUEST_ID_HEADER
    _meta_key = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def request_id(self, request: HttpRequest) -> str:
        """The caller's request id if it is a sane one, else a new one."""
        given = request.META.get(self._meta_key, "")
        return given if _SANE_REQUEST_ID.fullmatch(given) else new_request_id()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_context(self.request_id(request)) as request_id:
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        bind(workspace_id=view_kwargs.get("workspace_id"), message_id=view_kwargs.get("message_id"))


# Celery: the request's context travels in the task's headers ---------------------------------


def add_context_to_task(headers=None, **kwargs) -> None:
    """before_task_publish: the publishing request's (or task's) ids go along."""
    if headers is not None and current():
        headers["log_context"] = dict(current())


logger = logging.getLogger("messaging.operations.tasks")
_task_tokens: dict[str, tuple[Token[dict[str, str] | None], float]] = {}


@functools.cache
def _signature(task_name: str, run) -> inspect.Signature | None:
    try:
        return inspect.signature(run)
    except (TypeError, ValueError):
        return None


def _task_ids(task, args, kwargs) -> dict[str, str]:
    """The task's `message_id` / `workspace_id` arguments, given by position or by name."""
    signature = _signature(getattr(task, "name", ""), getattr(task, "run", None))
    try:
        bound = signature.bind_partial(*(args or ()), **(kwargs or {})).arguments if signature else {}
    except TypeError:
        bound = kwargs or {}
    return {k: str(v) for k in ("message_id", "workspace_id") if isinstance(v := bound.get(k), str)}


def restore_context_in_task(task_id=None, task=None, args=None, kwargs=None, **_) -> None:
    """task_prerun: the context of whoever enqueued the task (in the headers; an eager task
    already runs in it), plus the task's own ids."""
    carried = getattr(getattr(task, "request", None), "log_context", None) or current()
    context = {"request_id": new_request_id(), **carried, **_task_ids(task, args, kwargs)}
    _task_tokens[task_id] = (_context.set(context), time.monotonic())


def clear_context_after_task(task_id=None, task=None, state=None, **_) -> None:
    """task_postrun: one line per task, then back to the context before it (an eager task's
    request keeps its own)."""
    token, started = _task_tokens.pop(task_id, (None, time.monotonic()))
    logger.info(
        "Task %s %s in %.0f ms",
        getattr(task, "name", "?"),
        state,
        (time.monotonic() - started) * 1000,
        extra={"task": getattr(task, "name", "")},
    )
    if token is not None:
        _context.reset(token)


def log_message_outcome(message, text: str, *, carrier_sid: str = "") -> None:
    """One line about one message of a batch (the delivery engine's rounds), with the ids of the
    message and of the request that accepted it: a batch has no single request context."""
    logger.info(
        text,
        extra={
            "request_id": message.request_id or current().get("request_id", ""),
            "message_id": message.id,
            "workspace_id": message.workspace_id,
            "carrier_sid": carrier_sid,
        },
    )
