"""The lists' counts (messaging.ListCount), kept by triggers on PostgreSQL, and filled once.

Each trigger is per statement and reads the statement's transition tables, so a batch of a
thousand messages costs one grouped upsert, not a thousand. The slot a transaction writes is the
one it holds of the dashboard's counts (the same advisory locks as messaging.insights.counting),
so writers of one busy workspace never wait on each other's rows. The first fill holds the
counts' table against writers (message writes wait at their trigger, reads go on) so that
nothing committed meanwhile is counted twice or missed.
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
                    f"CREATE TRIGGER {table}_count_{event.lower()} AFTER {event} ON {table} "
                    f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
        cursor.execute(
            "CREATE OR REPLACE FUNCTION messaging_drop_list_counts() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM messaging_listcount WHERE workspace_id IN (SELECT id FROM old_rows); "
            "RETURN NULL; END $$")
        cursor.execute(
            "CREATE TRIGGER workspaces_workspace_drop_list_counts AFTER DELETE ON workspaces_workspace "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION messaging_drop_list_counts()")
        cursor.execute("LOCK TABLE messaging_listcount IN SHARE ROW EXCLUSIVE MODE")
        for _function, table, kinds, where in LISTS:
            for kind, columns in kinds:
                cursor.execute(
                    "INSERT INTO messaging_listcount (workspace_id, kind, day, direction, status, number, slot, n) "
                    f"SELECT workspace_id, '{kind}', (created_at AT TIME ZONE 'UTC')::date, {columns}, 0, "
                    f"COUNT(*) FROM {table} WHERE {where} GROUP BY 1, 3, 4, 5, 6")


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
