"""psycopg's C loader for timestamptz in every process (the web, daphne, workers, the binds),
set up once when the apps are ready (messaging_platform.api's AppConfig)."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.db import connection


def load_timestamps_in_c() -> bool:
    """In this process, timestamptz values are read by psycopg's C loader instead of Django's,
    which subclasses psycopg's pure-Python one (a C class cannot be subclassed) to set the tzinfo:
    about a sixth of the SMPP bind process's CPU went to reading the timestamps of its rounds'
    claimed rows, 5% of a delivery worker's. The value is the same: the C loader's datetime in
    the connection's time zone, which Django sets to its own (checked on every value; replaced
    as Django does when they differ). Applies to the connections made after it; answers whether
    it could (not on SQLite, nor without psycopg's C implementation)."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql import psycopg_any
    from psycopg import adapt, adapters, pq

    if not getattr(psycopg_any, "is_psycopg3", False) or pq.__impl__ == "python":
        return False
    oid = adapters.types["timestamptz"].oid
    c_loader = adapters.get_loader(oid, pq.Format.TEXT)
    tz = connection.timezone
    if c_loader is None or tz is None:
        return False

    class CTimestamptzLoader(adapt.Loader):
        timezone = tz  # what Django's create_cursor compares with its own

        def __init__(self, oid: int, context: Any = None):
            super().__init__(oid, context)
            self._load = cast(Any, c_loader)(oid, context).load

        def load(self, data: Any) -> Any:
            value = self._load(data)
            return value if value.tzinfo is tz else value.replace(tzinfo=tz)

    # The adapters every new connection of this process starts from (Django's, cached).
    template = cast(Any, psycopg_any).get_adapters_template(settings.USE_TZ, tz)
    template.register_loader("timestamptz", CTimestamptzLoader)
    return True
