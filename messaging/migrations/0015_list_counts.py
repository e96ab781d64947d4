"""The lists' counts (messaging.ListCount), kept by triggers on PostgreSQL, and filled once.

Each trigger is per statement and reads the statement's transition tables, so a batch of a
thousand messages costs one grouped upsert, not a thousand. The slot a transaction writes is the
one it holds of the dashboard's counts (the same advisory locks as messaging.insights.counting),
so writers of one busy workspace never wait on each other's rows. The first count runs after the triggers are in place and subtracts what they counted meanwhile, as
of one snapshot (messaging.list_counts.rebuild_sql), so no writer waits for it.
"""

from django.db import migrations, models

SLOT = ("COALESCE((SELECT g FROM generate_series(0, 15) g "
        "WHERE pg_try_advisory_xact_lock(7301150, g) LIMIT 1), pg_backend_pid() % 16)")

OUR_NUMBER = "CASE WHEN direction = 'inbound' THEN to_number ELSE from_number END"
# What each list counts: (function, table, [(kind, its key columns)], which rows).
LISTS = [
    ("messaging_count_messages", "messaging_message",
     [("message", "direction, status, ''"), ("number", f"direction, status, {OUR_NUMBER}")], "TRUE"),
    ("messaging_count_conversations", "messaging_conversation", [("conversation", "'', '', ''")],
     "last_message_id IS NOT NULL"),
    ("messaging_count_contacts", "messaging_contact", [("contact", "'', '', ''")], "TRUE"),
]


def _keys(rows: str, sign: int, kinds: list, where: str) -> list[str]:
    return [f"SELECT workspace_id, '{kind}' AS kind, (created_at AT TIME ZONE 'UTC')::date AS day, "
            f"{columns}, {sign} AS d FROM {rows} WHERE {where}" for kind, columns in kinds]


def _upsert(parts: list[str]) -> str:
    return ("INSERT INTO messaging_listcount AS c (workspace_id, kind, day, direction, status, number, slot, n) "
            f"SELECT workspace_id, kind, day, direction, status, number, {SLOT}, SUM(d) FROM ("
            + " UNION ALL ".join(parts) + ") delta(workspace_id, kind, day, direction, status, number, d) "
            "GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(d) <> 0 ORDER BY 1, 2, 3, 4, 5, 6 "
            "ON CONFLICT (workspace_id, kind, day, direction, status, number, slot) "
            "DO UPDATE SET n = c.n + EXCLUDED.n;")


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the embedded default) counts its few rows directly
    with schema_editor.connection.cursor() as cursor:
        for function, table, kinds, where in LISTS:
            inserted = _upsert(_keys("new_rows", 1, kinds, where))
            deleted = _upsert(_keys("old_rows", -1, kinds, where))
            updated = _upsert(_keys("new_rows", 1, kinds, where) + _keys("old_rows", -1, kinds, where))
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF TG_OP = 'INSERT' THEN {inserted} ELSIF TG_OP = 'DELETE' THEN {deleted} "
                f"ELSE {updated} END IF; RETURN NULL; END $$")
            # One trigger per event: PostgreSQL gives transition tables to single-event triggers only.
            for event, tables in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                                  ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
                cursor.execute(
                    f"CREATE OR REPLACE TRIGGER {table}_count_{event.lower()} AFTER {event} ON {table} "
                    f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        cursor.execute(
            "CREATE OR REPLACE FUNCTION messaging_drop_list_counts() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM messaging_listcount WHERE workspace_id IN (SELECT id FROM old_rows); "
            "RETURN NULL; END $$")
        cursor.execute(
            "CREATE OR REPLACE TRIGGER workspaces_workspace_drop_list_counts AFTER DELETE ON workspaces_workspace "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_drop_list_counts()")
        # The first count, after the triggers are in place: one statement per list counts the
        # rows less what the triggers counted meanwhile, as of one snapshot (slot 16: no
        # trigger writes there), so nothing is missed or counted twice and no writer waits.
        keys = "workspace_id, kind, day, direction, status, number"
        for _function, table, kinds, where in LISTS:
            for kind, columns in kinds:
                cursor.execute(
                    f"INSERT INTO messaging_listcount AS c ({keys}, slot, n) SELECT {keys}, 16, SUM(n) FROM ("
                    f"SELECT workspace_id, '{kind}', (created_at AT TIME ZONE 'UTC')::date, {columns}, "
                    f"COUNT(*) FROM {table} WHERE {where} GROUP BY 1, 3, 4, 5, 6 UNION ALL "
                    f"SELECT {keys}, -SUM(n) FROM messaging_listcount WHERE kind = '{kind}' "
                    f"GROUP BY 1, 2, 3, 4, 5, 6) delta({keys}, n) GROUP BY 1, 2, 3, 4, 5, 6 "
                    f"HAVING SUM(n) <> 0 ON CONFLICT ({keys}, slot) DO UPDATE SET n = c.n + EXCLUDED.n")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS workspaces_workspace_drop_list_counts ON workspaces_workspace")
        cursor.execute("DROP FUNCTION IF EXISTS messaging_drop_list_counts()")
        for function, table, _kinds, _where in LISTS:
            for event in ("insert", "delete", "update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_count_{event} ON {table}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {function}()")


class Migration(migrations.Migration):
    # Each step commits at once: the triggers' brief lock on each table is not held while the
    # first count runs.
    atomic = False

    dependencies = [
        ('messaging', '0014_error_codes_up_to_64'),
        ('workspaces', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='ListCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('workspace_id', models.CharField(max_length=32)),
                ('kind', models.CharField(max_length=12)),
                ('day', models.DateField()),
                ('direction', models.CharField(blank=True, max_length=8)),
                ('status', models.CharField(blank=True, max_length=16)),
                ('number', models.CharField(blank=True, max_length=64)),
                ('slot', models.PositiveSmallIntegerField(default=0)),
                ('n', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('workspace_id', 'kind', 'day', 'direction', 'status', 'number', 'slot'), name='one_list_count_per_key')],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
