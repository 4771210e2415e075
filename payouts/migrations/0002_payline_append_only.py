from django.db import migrations

from core.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("payouts", "0001_initial")]

    operations = [migrations.RunPython(*append_only("payouts_payline"))]
