from django.db import migrations

# Sends choose their route from the per-process send context (messaging.sending), emptied when the
# credentials token changes: a change to the routes must change it too, as changes to accounts
# and numbers do (api 0003).
TABLE = "numbers_carrierroute"


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_credentials_changed AFTER INSERT OR DELETE OR UPDATE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION api_credentials_changed()")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_credentials_changed ON {TABLE}")


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0003_credentials_version"),
        ("numbers", "0006_smpp_parts"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
        # Several accounts of one carrier per workspace: their webhook URLs name the account.
        migrations.RemoveConstraint(model_name="provideraccount",
                                    name="one_carrier_account_per_provider"),
    ]
