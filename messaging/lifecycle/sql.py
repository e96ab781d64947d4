"""The statement helpers of messaging.lifecycle: guarded UPDATEs of many messages in one
statement, answering the rows they changed as Message instances."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import orjson
from django.db import connection
from django.db.models.base import ModelState

from numbers.models import PhoneNumber, ProviderAccount

from ..models import FINAL_STATUSES, Message

# The statement helpers ---------------------------------------------------------------------------
# Raw SQL because the ORM has no UPDATE … RETURNING nor UPDATE … FROM (VALUES …). Only the table's
# own column names and fixed SQL are put into the text; every value is a placeholder. Written for
# PostgreSQL and SQLite (the embedded default) alike.

_TABLE = Message._meta.db_table
_ACCOUNTS = ProviderAccount._meta.db_table
# The id of a message's own carrier account, as numbers.routing.account_for_message chooses it: the
# account it was routed to, else its sender number's account, else the workspace's primary account.
_MESSAGE_ACCOUNT = (
    f"COALESCE({_TABLE}.carrier_account_id, (SELECT n.account_id FROM {PhoneNumber._meta.db_table} n "  # noqa: S608
    f"WHERE n.workspace_id = {_TABLE}.workspace_id AND n.phone_number = {_TABLE}.from_number "
    f"AND n.account_id IS NOT NULL LIMIT 1), (SELECT p.id FROM {_ACCOUNTS} p "
    f"WHERE p.workspace_id = {_TABLE}.workspace_id AND p.is_primary LIMIT 1))"
)
_COLUMNS = ", ".join(connection.ops.quote_name(cast(str, f.column)) for f in Message._meta.concrete_fields)


def _sql_type(kind: str) -> str:
    if connection.vendor == "postgresql":
        return {"text": "text", "int": "integer", "ts": "timestamptz"}[kind]
    return {"text": "text", "int": "integer", "ts": "text"}[kind]


def _param(kind: str, value: Any) -> Any:
    if kind == "ts" and value is not None:
        return connection.ops.adapt_datetimefield_value(value)
    return value


_FIELDS = Message._meta.concrete_fields
_ATTNAMES = tuple(f.attname for f in _FIELDS)
_converters_of: dict[str, list[tuple[int, list[Any], object]]] = {}


def _row_converters() -> list[tuple[int, list[Any], object]]:
    """The columns whose database values need converting (as the ORM's compiler would), per vendor:
    on PostgreSQL only the JSON list of media URLs."""
    found = _converters_of.get(connection.vendor)
    if found is None:
        found = []
        for index, field in enumerate(_FIELDS):
            column = field.get_col(_TABLE)
            functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if functions:
                found.append((index, functions, column))
        _converters_of[connection.vendor] = found
    return found


def _messages_of(rows: Iterable[Sequence[Any]]) -> list[Message]:
    """Message instances from full rows, as `Model.from_db` makes them but without its per-field
    __init__ machinery (a round makes a thousand of them)."""
    converters = _row_converters()
    messages = []
    for row in rows:
        if converters:
            row = list(row)
            for index, functions, column in converters:
                value = row[index]
                for function in functions:
                    value = function(value, column, connection)
                row[index] = value
        message = Message.__new__(Message)
        message.__dict__.update(zip(_ATTNAMES, row, strict=True))
        state = message._state = ModelState()
        state.adding, state.db = False, connection.alias
        messages.append(message)
    return messages


def _returning(sql: str, params: Sequence[Any]) -> list[Message]:
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {_COLUMNS}", params)
        return _messages_of(cursor.fetchall())


def _execute(sql: str, params: Sequence[Any]) -> list[Message]:
    """The statement, answering nothing (its caller holds the rows already)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    return []


def _returning_sids(sql: str, params: Sequence[Any]) -> list[tuple[str, str | None]]:
    """The statement, answering (id, provider_sid) of the rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {_TABLE}.id, {_TABLE}.provider_sid", params)
        return cursor.fetchall()


def _update_from_values(
    *,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
    set_sql: str,
    where_sql: str = "TRUE",
    params: Sequence[Any] = (),
    returning: bool | Callable[[str, Sequence[Any]], Any] = True,
) -> Any:
    """One guarded UPDATE of many messages from a VALUES list; answers the rows it changed
    (`returning=False`: nothing, the caller holds them; or a function that runs the statement and
    answers what it returns).

    `columns` are (name, kind) with kind text/int/ts; the first is the message id. In `set_sql`
    and `where_sql` the values are `v.v_<name>` and the message's own columns are unqualified
    or `m.`-less (the table's name); `params` fill their own placeholders, after the values."""
    if not rows:
        return []
    run = returning if callable(returning) else _returning if returning else _execute
    names = [f"v_{name}" for name, _ in columns]
    values: list[Any] | str  # the JSON parameter on PostgreSQL, else the VALUES text
    if connection.vendor == "postgresql":
        source, values = _json_rows(names, [kind for _, kind in columns], rows)
        sql = (
            f"WITH v AS ({source}) UPDATE {_TABLE} SET {set_sql} FROM v "  # noqa: S608
            f"WHERE {_TABLE}.id = v.v_id AND {where_sql}"
        )
        return run(sql, [*values, *params])
    cells = ", ".join(f"CAST(%s AS {_sql_type(kind)})" for _, kind in columns)
    values = ", ".join(f"({cells})" for _ in rows)
    flat = [_param(kind, row[i]) for row in rows for i, (_, kind) in enumerate(columns)]
    sql = (
        f"WITH v({', '.join(names)}) AS (VALUES {values}) UPDATE {_TABLE} SET {set_sql} "  # noqa: S608
        f"FROM v WHERE {_TABLE}.id = v.v_id AND {where_sql}"
    )
    return run(sql, [*flat, *params])


def json_rows(
    names: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[str, list[Any]]:
    """PostgreSQL: `SELECT * FROM json_to_recordset(%s)` of these rows, and its one parameter.

    A batch's values as one JSON text (orjson) rather than a placeholder each: the database
    driver's client-side binding parses and quotes every placeholder in Python, which for a
    round's VALUES list cost more than the rest of the statement. `types` are SQL types."""
    definition = ", ".join(f"{name} {kind}" for name, kind in zip(names, types, strict=True))
    data = orjson.dumps([dict(zip(names, row, strict=True)) for row in rows]).decode()
    return f"SELECT * FROM json_to_recordset(%s::json) AS r({definition})", [data]  # noqa: S608


def _json_rows(
    names: Sequence[str], kinds: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[str, list[Any]]:
    return json_rows(names, [_sql_type(kind) for kind in kinds], rows)


def _update_picked(
    *,
    pick_sql: str,
    pick_params: Sequence[Any],
    limit: int,
    set_sql: str,
    set_params: Sequence[Any],
    guard_sql: str,
    guard_params: Sequence[Any],
) -> list[Message]:
    """Pick up to `limit` messages (`WHERE pick_sql`, with its ORDER BY) skipping rows other
    transactions hold, and update them in the same statement; answers the rows updated.

    The pick is a materialized CTE: as an `IN (subquery)` PostgreSQL may run the subquery again
    while the update goes, each run locking further rows, and update more than `limit`."""
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"WITH picked(p_id) AS MATERIALIZED (SELECT id FROM {_TABLE} WHERE {pick_sql} "  # noqa: S608
        f"LIMIT %s{lock}) UPDATE {_TABLE} SET {set_sql} FROM picked "
        f"WHERE {_TABLE}.id = picked.p_id AND {guard_sql}"
    )
    return _returning(sql, [*pick_params, limit, *set_params, *guard_params])


def _in_list(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _final_list() -> str:
    return ", ".join(f"'{s}'" for s in sorted(FINAL_STATUSES))
