"""The event loop the sends run on: one per process, in a daemon thread."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's send loop, in a daemon thread, started on first use (and again in a forked
    child, which inherits no running thread)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="dispatch-loop", daemon=True).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def _close_pools() -> None:
    """At exit, close the send loop's keep-alive pools (quietly, rather than at interpreter exit)."""
    loop = _loop
    if loop is not None and _loop_pid == os.getpid() and loop.is_running():
        from numbers.providers.twilio import close_async_sessions

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_async_sessions(), loop).result(2)


atexit.register(_close_pools)


def run_on_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the send loop from a synchronous thread and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, event_loop()).result()
