# The one global row of orchestrator settings, with the defaults of SPEC 2. The values are
# written out here (not imported) so this migration keeps doing what it did when it was written.

from django.db import migrations

GLOBAL_DEFAULTS = {
    "model": "gpt-4o-mini",
    "check_interval": 60,
    "stall_threshold": 3,
    "risk_auto_escalation": True,
    "risk_categories": ["frustration", "legal_threat", "churn_risk", "human_request"],
    "handoff_mode": "auto",
    "hot_claim_timeout": 120,
    "routing_instructions": "",
}


def create_global_defaults(apps, schema_editor):
    OrchestratorSettings = apps.get_model("orchestration", "OrchestratorSettings")
    OrchestratorSettings.objects.get_or_create(level="global", defaults=GLOBAL_DEFAULTS)


def delete_global_defaults(apps, schema_editor):
    OrchestratorSettings = apps.get_model("orchestration", "OrchestratorSettings")
    OrchestratorSettings.objects.filter(level="global").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("orchestration", "0002_orchestrator_settings"),
    ]

    operations = [
        migrations.RunPython(create_global_defaults, delete_global_defaults),
    ]
