"""Seed the default retention policy (editable in the admin)."""

from django.db import migrations


def default_retention(apps, schema_editor):
    """CNIL's recommendation: prospects with no contact for three years are anonymised."""
    RetentionPolicy = apps.get_model("consent", "RetentionPolicy")
    RetentionPolicy.objects.get_or_create(
        name="Prospects without contact for 3 years",
        defaults={"lifecycle_stage": "prospect", "days_without_contact": 3 * 365},
    )


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(default_retention, migrations.RunPython.noop)]
