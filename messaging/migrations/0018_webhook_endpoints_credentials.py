from django.db import migrations

# Requests read their workspace's webhook endpoints from the per-process caches of
# messaging_platform/api/credentials.py (messaging.event_webhooks: subscribed_endpoints), emptied
# when the credentials token changes: a change to what that list holds must change it, as changes
# to keys, accounts, numbers and routes do (api 0003, numbers 0007). A delivery's failure counters
# do not.
TABLE = "messaging_webhookendpoint"
EVENTS = "INSERT OR DELETE OR UPDATE OF is_active, events, workspace_id"


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_credentials_changed AFTER {EVENTS} ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION api_credentials_changed()"
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_credentials_changed ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0003_credentials_version"),
        ("messaging", "0017_drop_pattern_ops_indexes"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
