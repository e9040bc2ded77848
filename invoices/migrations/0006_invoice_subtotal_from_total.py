from django.db import migrations, models


def subtotals_from_totals(apps, schema_editor):
    """Invoices made before tax had no rates: their subtotal is their total and their tax 0."""
    Invoice = apps.get_model("invoices", "Invoice")
    Invoice.objects.update(subtotal=models.F("total"), tax_total=0)


class Migration(migrations.Migration):
    """Its own step (and transaction) between adding the columns and checking subtotal + tax = total."""

    dependencies = [
        ('invoices', '0005_tax_rates'),
    ]

    operations = [
        migrations.RunPython(subtotals_from_totals, migrations.RunPython.noop),
    ]
