from django.db import migrations, models

CATEGORIES = ("frustration", "legal_threat", "churn_risk", "human_request")


def global_default(apps, schema_editor):
    """The global defaults set every value: the built-in detector (nothing added or removed,
    the default threshold)."""
    settings = apps.get_model("agents", "OrchestratorSettings")
    settings.objects.filter(level="global", risk_detection__isnull=True).update(
        risk_detection={c: {"add": [], "remove": [], "threshold": 0.5} for c in CATEGORIES}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0011_chat_workflow"),
    ]

    operations = [
        migrations.AddField(
            model_name="orchestratorsettings",
            name="risk_detection",
            field=models.JSONField(
                blank=True,
                help_text="The risk detector's phrases and thresholds by category, added to the "
                'level above: {"legal_threat": {"add": ["small claims"], "remove": '
                '["regulator"], "threshold": 0.5}}.',
                null=True,
                verbose_name="risk detection",
            ),
        ),
        migrations.RunPython(global_default, migrations.RunPython.noop),
    ]
