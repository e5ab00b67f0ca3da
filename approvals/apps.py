from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from approvals.models import ApprovalRequest
        from core.observability.metrics import register_state

        register_state(
            "approvals_pending",
            "Approval requests waiting for a decision",
            lambda vendor: (
                f"SELECT COUNT(*) FROM {ApprovalRequest._meta.db_table} "  # noqa: S608
                "WHERE status = 'pending'"
            ),
        )
