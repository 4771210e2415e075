from django.db import migrations

from core.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(*append_only("agents_auditentry"))]
