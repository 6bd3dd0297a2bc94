from django.db import migrations

from qinglian.trading.guards import install_guards, remove_guards


def install(apps, schema_editor):
    install_guards(schema_editor.connection)


def remove(apps, schema_editor):
    remove_guards(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("trading", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
