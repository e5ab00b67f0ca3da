from django.apps import AppConfig
from django.db.models.signals import post_save


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Tenants and people"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.models import Tenant
        from core.observability.setup import observability_install

        observability_install()
        post_save.connect(_tenant_changed, sender=Tenant, dispatch_uid="core.tenant_changed")


def _tenant_changed(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """A tenant saved anywhere (its admin page, a service, ``manage.py shell``) moves its
    configuration generation, so every process reads it again within CONFIG_CHECK_SECONDS: the
    API keys (``core.selectors``) and the turns worker keep tenants in memory."""
    from core.config_version import config_changed

    if not created and not raw:
        config_changed(instance.pk)
