"""Per-process caches of what every integrator request reads: the API key (by its hash) with its
workspace, and the workspace's sending context (carrier account, numbers, default sender).

Exact, not eventually consistent: every request reads one token from the database
(`CredentialsVersion`, replaced by a trigger in the transaction of any change to keys,
workspaces' active flag, carrier accounts or numbers) and empties this process's caches when it
differs, so a revoked key fails on its very next request, on every process. Outside PostgreSQL
(the embedded default) there are no triggers, and the caches stay off.
"""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.core.signals import request_finished, request_started
from django.db import connection

T = TypeVar("T")

MAX_ENTRIES = 10_000
# A backstop, not the mechanism: entries are dropped this long after they were loaded.
MAX_AGE_SECONDS = 300.0

_lock = threading.Lock()
_entries: dict[tuple[str, object], tuple[float, object]] = {}
_version: list[str | None] = [None]  # the token the entries were loaded under
_request = threading.local()  # the token read for the current request, read once per request


def _read_token() -> str | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM api_credentialsversion WHERE id = 1")
        row = cursor.fetchone()
        if row is None:
            # Emptied (a TRUNCATE, which the triggers do not see): a fresh random token, so that
            # no process keeps what it cached before.
            cursor.execute(
                "INSERT INTO api_credentialsversion (id, token) "
                "VALUES (1, gen_random_uuid()::text) ON CONFLICT (id) DO NOTHING "
                "RETURNING token"
            )
            row = cursor.fetchone()
    return row[0] if row else None


def current_token() -> str | None:
    """The token for this request (read once per request; on every call outside requests)."""
    if getattr(_request, "active", False) and getattr(_request, "token", None) is not None:
        return _request.token
    token = _read_token()
    if getattr(_request, "active", False):
        _request.token = token
    return token


def cached(kind: str, key: object, load: Callable[[], T], *, keep_none: bool = False) -> T:
    """`load()`, or what it answered earlier in this process under the same token."""
    token = current_token()
    if token is None:
        return load()
    now = time.monotonic()
    with _lock:
        if _version[0] != token:
            _entries.clear()
            _version[0] = token
        hit = _entries.get((kind, key))
    if hit is not None and now - hit[0] < MAX_AGE_SECONDS:
        return hit[1]  # type: ignore[return-value]
    value = load()
    if value is not None or keep_none:
        with _lock:
            if _version[0] == token:  # not emptied by a newer token meanwhile
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[(kind, key)] = (now, value)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
        _version[0] = None


def _request_started(**kwargs) -> None:
    _request.active = True
    _request.token = None


def _request_finished(**kwargs) -> None:
    _request.active = False
    _request.token = None


request_started.connect(_request_started, dispatch_uid="credentials-request-started")
request_finished.connect(_request_finished, dispatch_uid="credentials-request-finished")
