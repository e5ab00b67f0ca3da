from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    verbose_name = "Orchestration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The turn's task is registered when the process starts: the outbox relays it from
        # many request threads at once, and Celery's lazy discovery of tasks, racing there,
        # left some threads without it (bench/turn.py: 8 of 24 turns relayed only by the sweep).
        from orchestration import tasks  # noqa: F401
