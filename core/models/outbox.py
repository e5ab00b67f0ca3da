"""The transactional outbox: work that must not be lost (a hot handoff offer, a pack to
build, approvers to e-mail, an approved action to execute) is a row written in the same
transaction as the change that calls for it. ``core.outbox`` relays it after commit
and, for whatever that missed (the broker or Redis was down, the process died), from a
periodic sweep."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from core.models.tenants import TenantOwned


class OutboxKind(models.TextChoices):
    TASK = "task", "Celery task"
    HANDOFF_OFFER = "handoff.offer", "Hot handoff offer"


class OutboxEvent(TenantOwned):
    kind = models.CharField(max_length=40, choices=OutboxKind.choices)
    payload = models.JSONField(default=dict, help_text="Ids and names only, never objects.")
    created_at = models.DateTimeField(auto_now_add=True)
    available_at = models.DateTimeField(help_text="Not relayed before this time.")
    relayed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "orchestration_outboxevent"  # the table from before the model moved here
        ordering = ["id"]
        indexes = [
            # the sweep's scan: pending rows only, oldest due first
            models.Index(
                fields=["available_at", "id"],
                name="outbox_pending",
                condition=Q(relayed_at__isnull=True),
            ),
            models.Index(
                fields=["relayed_at"],
                name="outbox_relayed",
                condition=Q(relayed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
