from django.apps import AppConfig


class HandoverConfig(AppConfig):
    name = "handover"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.models import OutboxKind
        from core.outbox import register_relay
        from handover.services import relay_offer

        register_relay(OutboxKind.HANDOFF_OFFER, relay_offer)
