from django.db import migrations, models

# Row-level triggers: a new token for each row changed in what the caches hold (a statement that
# matches no row, such as a refused revoke of another workspace's key, changes nothing). The
# token is random (not a counter), so a rolled-back change can never bring back a token
# that a process still holds for other data.
TRIGGERS = {
    "workspaces_apikey": "INSERT OR DELETE OR UPDATE OF revoked_at, key_hash, workspace_id",
    "workspaces_workspace": "DELETE OR UPDATE OF is_active",
    "numbers_provideraccount": "INSERT OR DELETE OR UPDATE",
    "numbers_phonenumber": "INSERT OR DELETE OR UPDATE",
}

FUNCTION = """
CREATE OR REPLACE FUNCTION api_credentials_changed() RETURNS trigger AS $$
BEGIN
    UPDATE api_credentialsversion SET token = gen_random_uuid()::text WHERE id = 1;
    RETURN NULL;  -- an AFTER trigger: the row is not changed
END
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    apps.get_model("api", "CredentialsVersion").objects.create(id=1, token="initial")
    if schema_editor.connection.vendor != "postgresql":
        return  # no triggers: the caches stay off (credentials.py reads the database each time)
    schema_editor.execute(FUNCTION)
    for table, events in TRIGGERS.items():
        schema_editor.execute(
            f"CREATE TRIGGER {table}_credentials_changed AFTER {events} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION api_credentials_changed()")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_credentials_changed ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS api_credentials_changed()")


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_encrypt_idempotency_body"),
        ("workspaces", "0001_initial"),
        ("numbers", "0003_phone_number_send_rate"),
    ]

    operations = [
        migrations.CreateModel(
            name="CredentialsVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("token", models.CharField(max_length=36)),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
