from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Tenants and people"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.observability.setup import observability_install

        observability_install()
