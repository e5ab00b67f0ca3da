from django.db import migrations


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    Settings = apps.get_model("orchestration", "OrchestratorSettings")
    seconds = min(
        (s for s in Settings.objects.values_list("check_interval", flat=True) if s), default=60
    )
    schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="Orchestrator: silence sweep",
        defaults={"task": "orchestration.sweep_silence", "interval": schedule, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="Orchestrator: silence sweep"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("orchestration", "0004_conversations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
