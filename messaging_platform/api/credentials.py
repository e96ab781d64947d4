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
        _request.assumed = False
    return token


def request_token() -> str | None:
    """The token this request read or had confirmed, or None (outside requests; not read yet;
    assumed and not confirmed): whether `cached` can answer without a round trip."""
    if not getattr(_request, "active", False) or getattr(_request, "assumed", False):
        return None
    return getattr(_request, "token", None)


# Assumed tokens: one round trip less for a send --------------------------------------------------
# A send stores its message in one statement anyway, so the token need not be read on its own
# first: the request goes on under the token this process's entries were loaded under, and the
# store statement stores only if the table still holds that token (messaging/message_store.py),
# in the same snapshot as its writes. A request that stores nothing reads the token before it
# answers (`assumed_token_holds`). Either way a change committed before the request's writes is
# seen: when the token differs, the request is served again from the start under the new one.


class StaleCredentials(Exception):
    """The token a request assumed is no longer the table's: nothing was written under it."""


def assume_token() -> bool:
    """In a request: go on under the token of this process's entries, without reading it (False,
    and nothing assumed, when there is none yet: the first request of a process reads it)."""
    if not getattr(_request, "active", False) or getattr(_request, "token", None) is not None:
        return False
    with _lock:
        token = _version[0]
    if token is None:
        return False
    _request.token, _request.assumed = token, True
    return True


def assumed_token() -> str | None:
    """The token this request assumed and no statement has confirmed yet, or None."""
    return _request.token if getattr(_request, "assumed", False) else None


def assumed_token_seen(token: str | None) -> None:
    """A statement of this request saw the table's `token` in its snapshot: confirmed, or raises
    StaleCredentials (the caches are emptied and the request forgets the token)."""
    if token == _request.token:
        _request.assumed = False
        return
    forget_token()
    raise StaleCredentials


def assumed_token_holds() -> bool:
    """Whether what this request did under an assumed token stands: confirmed by a statement, or
    read now and unchanged. When it changed, the caches are emptied and the request forgets it."""
    if not getattr(_request, "assumed", False):
        return True
    token = _read_token()
    if token == _request.token:
        _request.assumed = False
        return True
    forget_token()
    return False


def drop_assumed_token() -> None:
    """This request reads the token at its next use (what it assumed is not used any further)."""
    if getattr(_request, "assumed", False):
        _request.token, _request.assumed = None, False


def forget_token() -> None:
    """This request's token is read afresh at its next use, and this process's entries dropped."""
    _request.token, _request.assumed = None, False
    clear()


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
    _request.token, _request.assumed = None, False


def _request_finished(**kwargs) -> None:
    _request.active = False
    _request.token, _request.assumed = None, False


request_started.connect(_request_started, dispatch_uid="credentials-request-started")
request_finished.connect(_request_finished, dispatch_uid="credentials-request-finished")
