from django.apps import AppConfig


class HandoverConfig(AppConfig):
    name = "handover"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.models import OutboxKind
        from core.observability.metrics import register_state
        from core.outbox import register_relay
        from handover.models import Handoff
        from handover.services import relay_offer

        register_relay(OutboxKind.HANDOFF_OFFER, relay_offer)
        register_state(
            "handoffs_unclaimed",
            "Handoffs offered or queued, not claimed",
            lambda vendor: (
                f"SELECT COUNT(*) FROM {Handoff._meta.db_table} "  # noqa: S608
                "WHERE status IN ('offered', 'queued')"
            ),
        )
