"""The exact totals of a workspace's lists (`totalItems`), read from counters rather than counted.

What is counted (messaging.ListCount, one row per workspace × list × UTC day of creation, and for
messages × direction × status, × slot): every message; every conversation that has a message
(the conversation list shows no other); every contact. Database triggers on the three tables
(migration messaging.0015) keep the rows in the transaction of each change, whoever makes it:
the send paths, the lifecycle's batch updates, inbound filing, broadcasts, deletes, redaction
and retention, a workspace's deletion. A reader sums the rows of the days and keys it needs,
a few hundred rows where a `COUNT(*)` of a big workspace reads millions of index entries.

Which lists read them: the messages list filtered by nothing but `direction`, `status`,
`startDate`, `endDate` (a partial first or last day is counted from the messages in it, by
index) and one of `from` or `to` (our numbers' messages from the counters, a contact's by
index), the conversation list, and the contacts list without filters. Any other filter is
counted by the database, through its own index. SQLite (the embedded default) has no triggers
here and counts directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.db.models.sql.where import WhereNode

from .models import Contact, Conversation, ListCount, Message

MESSAGE, NUMBER, CONVERSATION, CONTACT = "message", "number", "conversation", "contact"
# The side of a message that is ours, by direction: where `number` counters are keyed.
OUR_SIDE = {"outbound": "from_number", "inbound": "to_number"}
_TABLE = ListCount._meta.db_table


def counted() -> bool:
    """Whether this database keeps the counters (PostgreSQL)."""
    return connection.vendor == "postgresql"


# An offset past this many rows is reached through the counters (`seek`) rather than read past.
SEEK_FROM = 1000
# A list no counter or index can count (a `search` of the bodies) is counted this many rows past
# the end of the page asked for, and no further (`bounded`).
COUNT_AHEAD = 1000


# A list counted by its own matches (`bounded`, `windowed`) is counted, on PostgreSQL, in the same
# statement that finds which rows the page ending at the counted end holds (up to this many: the
# largest page), so that the matches are looked for once rather than once for the count and again
# for the page (a trigram index's scan, or the rows read past the matches of a common word).
WINDOW = 100


class CountedQuerySet(QuerySet):
    """A list's queryset whose count() is `total()`, and whose deep slices start from `seek`: given
    an offset, a narrower queryset and the offset within it, so that a deep page does not read
    every row before it. A queryset made from it (filtered further, sliced) inherits neither."""

    total: Callable[[], int] | None = None
    seek: Callable[[QuerySet, int], tuple[QuerySet, int]] | None = None
    # Counted no further than this many rows past the page (count_through), when set.
    ahead: int | None = None
    # Counted by its matches, with the page's rows found by the same statement (_count_window).
    windowed: bool = False
    # (first row, primary keys of the rows from it) that count_through found for the next slice.
    _window: tuple[int, list] | None = None

    def count(self) -> int:
        if self.total is not None:
            return self.total()
        if self.ahead is not None:
            return self.count_through(0)
        return super().count()

    def count_through(self, end: int) -> int:
        """The rows' count, for a page that ends at row `end`: exact, or for a bounded list
        (`ahead`) exact when fewer than end + ahead, else end + ahead (more rows follow)."""
        end = max(0, end)
        if self.windowed and connection.vendor == "postgresql" and self._ordering() is not None:
            return self._count_window(end)
        if self.ahead is None:
            return self.count()
        return QuerySet.count(self.order_by().values("pk")[: end + self.ahead])

    def _ordering(self) -> list[tuple[str, bool]] | None:
        """The list's order as (field, descending) pairs, when it is plain fields ending in one
        that is unique (so that a row's place is the same in every statement)."""
        fields = [f for f in self.query.order_by if isinstance(f, str)]
        if not fields or len(fields) != len(self.query.order_by):
            return None
        order = [(f.lstrip("-"), f.startswith("-")) for f in fields]
        if order[-1][0] not in ("pk", self.model._meta.pk.name):
            return None
        return order

    def _count_window(self, end: int) -> int:
        """count_through in one statement, which also keeps the primary keys of the rows up to
        WINDOW before `end` for the slice that follows (__getitem__)."""
        order = self._ordering()
        assert order is not None
        # The columns: the primary key (k), then each other field of the order (o1, o2, …).
        others = [name for name, _ in order[:-1]]
        matches = QuerySet.values_list(self, "pk", *others)
        # The first end + ahead in the list's order, or all of them (in no order) when exact.
        matches = matches[: end + self.ahead] if self.ahead is not None else matches.order_by()
        sql, params = matches.query.sql_with_params()
        columns = ["k", *(f"o{i + 1}" for i in range(len(others)))]
        by = ", ".join(
            f"{columns[i + 1] if i < len(others) else 'k'}{' DESC' if desc else ''}"
            for i, (_, desc) in enumerate(order)
        )
        first = max(0, end - WINDOW)
        with connection.cursor() as cursor:
            # Found once (a materialized CTE), counted, and the window's keys taken in order.
            cursor.execute(
                f"WITH matches({', '.join(columns)}) AS MATERIALIZED ({sql}) "  # noqa: S608
                f"SELECT (SELECT COUNT(*) FROM matches), "
                f"ARRAY(SELECT k FROM matches ORDER BY {by} LIMIT %s OFFSET %s)",
                [*params, end - first, first],
            )
            total, keys = cursor.fetchone()
        self._window = (first, list(keys))
        return total

    def __getitem__(self, k):
        if isinstance(k, slice) and self.seek is not None and (k.start or 0) >= SEEK_FROM:
            narrowed, start = self.seek(self._chain(), k.start)  # type: ignore[attr-defined]
            return narrowed[start : None if k.stop is None else start + k.stop - k.start]
        found = self._window
        if isinstance(k, slice) and found is not None and k.step is None and k.stop is not None:
            first, keys = found
            start = k.start or 0
            if first <= start <= k.stop <= first + WINDOW:
                # The rows count_through found: the same rows as the slice, by primary key alone
                # (the filters are not applied again: they could lead the plan back to the search).
                page = self._chain()  # type: ignore[attr-defined]
                page.query.where = WhereNode()
                return page.filter(pk__in=keys[start - first : k.stop - first])
        return super().__getitem__(k)


def with_total(
    queryset: QuerySet,
    total: Callable[[], int],
    seek: Callable[[QuerySet, int], tuple[QuerySet, int]] | None = None,
) -> QuerySet:
    """`queryset`, counted by `total` and sliced deep through `seek` (where the database keeps
    the counters)."""
    if not counted():
        return queryset
    # A copy of `queryset` of the counted class (QuerySet's own clone keeps its class).
    using, hints = queryset._db, queryset._hints  # type: ignore[attr-defined]
    found: CountedQuerySet = CountedQuerySet(
        model=queryset.model, query=queryset.query.chain(), using=using, hints=hints
    )
    found._prefetch_related_lookups = queryset._prefetch_related_lookups  # type: ignore[attr-defined]
    found.total, found.seek = total, seek
    return found


def bounded(queryset: QuerySet, ahead: int | None = None) -> QuerySet:
    """`queryset`, counted no further than `ahead` rows past the end of the page asked for
    (CountedQuerySet.count_through): a substring `search` of a common word matches a large share
    of a workspace's messages, and counting them all reads every one of them."""
    using, hints = queryset._db, queryset._hints  # type: ignore[attr-defined]
    found: CountedQuerySet = CountedQuerySet(
        model=queryset.model, query=queryset.query.chain(), using=using, hints=hints
    )
    found._prefetch_related_lookups = queryset._prefetch_related_lookups  # type: ignore[attr-defined]
    found.ahead = COUNT_AHEAD if ahead is None else ahead
    found.windowed = True
    return found


def windowed(queryset: QuerySet) -> QuerySet:
    """`queryset`, counted exactly by its own matches in the statement that also finds its page's
    rows (CountedQuerySet._count_window): a list filtered by what only a trigram index finds (a
    contact `search`) looks for its matches once."""
    using, hints = queryset._db, queryset._hints  # type: ignore[attr-defined]
    found: CountedQuerySet = CountedQuerySet(
        model=queryset.model, query=queryset.query.chain(), using=using, hints=hints
    )
    found._prefetch_related_lookups = queryset._prefetch_related_lookups  # type: ignore[attr-defined]
    found.windowed = True
    return found


def count_through(queryset: QuerySet, end: int) -> int:
    """How many rows a page ending at row `end` reports: exact, but for a bounded list (above)."""
    if isinstance(queryset, CountedQuerySet):
        return queryset.count_through(end)
    return queryset.count()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _summed(workspace_id: str, kind: str, **keys) -> int:
    rows = ListCount.objects.filter(workspace_id=workspace_id, kind=kind, **keys)
    return rows.aggregate(n=Sum("n"))["n"] or 0


def _message_days(
    *,
    workspace_id: str,
    direction: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    end_inclusive: bool = False,
    ours: str | None = None,
) -> list[tuple[date | None, int]]:
    """How many of the workspace's messages with this direction and status (when given), created
    from `start` (inclusive) to `end` (exclusive, or inclusive with `end_inclusive`), and on our
    side from or to the number `ours` (with a direction), each UTC day holds, newest first
    (`None`: the whole range at once, when it spans no whole day).

    Whole days come from the counters; the part of a day at either end from its messages."""
    keys = {k: v for k, v in (("direction", direction), ("status", status)) if v}
    if ours is not None and not direction:
        raise ValueError("Our side of a message depends on its direction.")
    # The whole days: from the first midnight at or after start, up to the last at or before end.
    first = (
        None
        if start is None
        else (start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1))
    )
    last = None if end is None else end.date()
    messages = Message.objects.filter(workspace_id=workspace_id, **keys)
    if ours is not None and direction:
        messages = messages.filter(**{OUR_SIDE[direction]: ours})
    if start is not None:
        messages = messages.filter(created_at__gte=start)
    if end is not None:
        messages = messages.filter(**{"created_at__lte" if end_inclusive else "created_at__lt": end})
    if first is not None and last is not None and first >= last:
        return [(None, messages.count())]  # within two days: the index is as quick
    days = ListCount.objects.filter(
        workspace_id=workspace_id, kind=NUMBER if ours else MESSAGE, number=ours or "", **keys
    )
    if first is not None:
        days = days.filter(day__gte=first)
    if last is not None:
        days = days.filter(day__lt=last)
    summed = days.values("day").annotate(n=Sum("n")).order_by("-day")
    found: list[tuple[date | None, int]] = [(row["day"], row["n"]) for row in summed if row["n"]]
    if last is not None:
        found.insert(0, (last, messages.filter(created_at__gte=_midnight(last)).count()))
    if first is not None:
        found.append((first - timedelta(days=1), messages.filter(created_at__lt=_midnight(first)).count()))
    return found


def message_total(**keys) -> int:
    """How many messages match (the keys of _message_days)."""
    return sum(n for _, n in _message_days(**keys))


def message_total_by_number(*, field: str, number: str, direction: str | None = None, **keys) -> int:
    """How many messages match the keys of _message_days and have `field` ("from_number" or
    "to_number") equal to `number`: from the `number` counters in the direction where that field
    is our side, and by index in the other (where it is the contact's: a few rows)."""
    ours = next(d for d, side in OUR_SIDE.items() if side == field)
    total = 0
    for way in OUR_SIDE:
        if direction and way != direction:
            continue
        if way == ours:
            total += message_total(direction=way, ours=number, **keys)
            continue
        theirs = Message.objects.filter(workspace_id=keys["workspace_id"], direction=way, **{field: number})
        if keys.get("status"):
            theirs = theirs.filter(status=keys["status"])
        if keys.get("start") is not None:
            theirs = theirs.filter(created_at__gte=keys["start"])
        if keys.get("end") is not None:
            theirs = theirs.filter(
                **{"created_at__lte" if keys.get("end_inclusive") else "created_at__lt": keys["end"]}
            )
        # Looked for before it is counted: where `number` is ours, PostgreSQL estimates this side
        # from the number's outbound rows (millions) and counts its zero rows with parallel
        # workers, whose start costs more than the rest of the list; LIMIT 1 is one index probe.
        if theirs.exists():
            total += theirs.count()
    return total


def seek(found: QuerySet, offset: int, days: list[tuple[date | None, int]]) -> tuple[QuerySet, int]:
    """Where the row at `offset` of `found` (newest first by created_at, then id) is, given how
    many rows each UTC day holds (newest first, as _message_days answers): the rows from its day
    back, and the offset in them. Within the day the row's time comes from the index alone (no
    row read), then the few rows that share that time decide the offset."""
    skipped = 0
    for day, n in days:
        if day is not None and skipped + n <= offset:
            skipped += n
            continue
        if day is not None:
            found = found.filter(created_at__lt=_midnight(day + timedelta(days=1)))
        within = offset - skipped
        moments = found.order_by("-created_at").values_list("created_at", flat=True)[within : within + 1]
        moment = next(iter(moments), None)
        if moment is None:
            return found, within
        newer = found.filter(created_at__gt=moment).count()
        return found.filter(created_at__lte=moment), within - newer
    return found.none(), 0  # past the last row


def message_seek(messages: QuerySet, offset: int, **keys) -> tuple[QuerySet, int]:
    """seek() through the messages matching the keys of _message_days."""
    return seek(messages, offset, _message_days(**keys))


def contact_seek(found: QuerySet, offset: int, *, workspace_id: str) -> tuple[QuerySet, int]:
    """seek() through all of the workspace's contacts."""
    days = (
        ListCount.objects.filter(workspace_id=workspace_id, kind=CONTACT)
        .values("day")
        .annotate(n=Sum("n"))
        .order_by("-day")
    )
    return seek(found, offset, [(row["day"], row["n"]) for row in days if row["n"]])


def conversation_total(*, workspace_id: str) -> int:
    """The conversations that have a message (those the conversation list shows)."""
    return _summed(workspace_id, CONVERSATION)


def contact_total(*, workspace_id: str) -> int:
    return _summed(workspace_id, CONTACT)


# Rebuilding -----------------------------------------------------------------------------------

_OUR_NUMBER = "CASE WHEN direction = 'inbound' THEN to_number ELSE from_number END"
# What each list counts, as the triggers count it: (kind, table, key columns, which rows).
_LISTS = [
    (MESSAGE, Message._meta.db_table, "direction, status, ''", "TRUE"),
    (NUMBER, Message._meta.db_table, f"direction, status, {_OUR_NUMBER}", "TRUE"),
    (CONVERSATION, Conversation._meta.db_table, "'', '', ''", "last_message_id IS NOT NULL"),
    (CONTACT, Contact._meta.db_table, "'', '', ''", "TRUE"),
]


# The slot only rebuilds write (the triggers' slots are 0-15), and the lock rebuilds take in turn.
REBUILD_SLOT = 16
REBUILD_LOCK = 7_301_170


def rebuild_sql(kind: str, table: str, columns: str, where: str, scope: str = "") -> str:
    """One statement that makes the counters of `kind` answer what the rows hold: it adds to the
    rebuild's slot, for every key, the rows counted less what the counters hold. One statement
    reads both as of one snapshot, so a change committed meanwhile (its rows and its counters
    alike) is neither missed nor counted twice, and no writer waits."""
    keys = "workspace_id, kind, day, direction, status, number"
    return (
        f"INSERT INTO {_TABLE} AS c ({keys}, slot, n) SELECT {keys}, {REBUILD_SLOT}, SUM(n) FROM ("  # noqa: S608
        f"SELECT workspace_id, '{kind}', (created_at AT TIME ZONE 'UTC')::date, {columns}, COUNT(*) "
        f"FROM {table} WHERE {where}{scope} GROUP BY 1, 3, 4, 5, 6 "
        f"UNION ALL SELECT {keys}, -SUM(n) FROM {_TABLE} WHERE kind = '{kind}'{scope} "
        f"GROUP BY 1, 2, 3, 4, 5, 6) delta({keys}, n) "
        f"GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3, 4, 5, 6 "
        f"ON CONFLICT ({keys}, slot) DO UPDATE SET n = c.n + EXCLUDED.n"
    )


def list_counts_rebuild(*, workspace_ids: Sequence[str] | None = None) -> int:
    """Make the lists' counters of these workspaces (all when None) answer what their rows hold;
    answers how many counter rows it corrected. A repair: the triggers keep them exact."""
    if not counted():
        return 0
    scope, params = "", []
    if workspace_ids is not None:
        scope, params = " AND workspace_id = ANY(%s)", [list(workspace_ids)]
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REBUILD_LOCK])
        for kind, table, columns, where in _LISTS:
            cursor.execute(rebuild_sql(kind, table, columns, where, scope), params * 2)
            written += cursor.rowcount
    return written


def list_counts_compact(*, before: date | None = None) -> int:
    """Fold the triggers' slots of each key of the days before `before` (default: yesterday) into
    the rebuild's slot, dropping what sums to nothing, so that a total reads about a row per key
    and day rather than one per slot that ever wrote it; answers how many rows went. One
    statement: a change made meanwhile to a folded row waits for it, then writes a new row."""
    if not counted():
        return 0
    before = before or (datetime.now(UTC).date() - timedelta(days=1))
    keys = "workspace_id, kind, day, direction, status, number"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REBUILD_LOCK])
        cursor.execute(
            f"WITH gone AS (DELETE FROM {_TABLE} WHERE day < %s AND slot <> {REBUILD_SLOT} "  # noqa: S608
            f"RETURNING {keys}, n), kept AS (INSERT INTO {_TABLE} AS c ({keys}, slot, n) "
            f"SELECT {keys}, {REBUILD_SLOT}, SUM(n) FROM gone GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(n) <> 0 "
            f"ORDER BY 1, 2, 3, 4, 5, 6 ON CONFLICT ({keys}, slot) DO UPDATE SET n = c.n + EXCLUDED.n "
            f"RETURNING 1) SELECT (SELECT COUNT(*) FROM gone) - (SELECT COUNT(*) FROM kept)",
            [before],
        )
        return cursor.fetchone()[0]
