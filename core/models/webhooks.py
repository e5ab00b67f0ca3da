"""Webhooks to a tenant's own systems (``core.webhooks``): an endpoint a manager registers for
some of the product's events, and each delivery of an event to it."""

from __future__ import annotations

from django.db import models

from core.models.tenants import Tenant, TenantOwned
from core.secret_store import SealedField


class WebhookEventType(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", "A conversation started"
    CONVERSATION_RESOLVED = "conversation.resolved", "A conversation was resolved"
    CONVERSATION_MERGED = "conversation.merged", "A conversation was merged into another"
    MESSAGE_CREATED = "message.created", "A message (the customer's, the AI's, a person's)"
    HANDOFF_CREATED = "handoff.created", "A conversation was handed to people"
    HANDOFF_CLAIMED = "handoff.claimed", "A person took a handed-over conversation"
    APPROVAL_REQUESTED = "approval.requested", "An action waits for approval"
    APPROVAL_DECIDED = "approval.decided", "An approval was decided (or expired)"
    CSAT_RATED = "csat.rated", "A customer rated a conversation"
    WEBHOOK_TEST = "webhook.test", "A test, sent by hand to one endpoint"


class WebhookEndpoint(TenantOwned):
    """Where a tenant's events go: a URL of theirs, the events it wants, and the secret its
    deliveries are signed with (Standard Webhooks; shown once, when made or rotated)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    url = models.URLField("URL", max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types it receives.")
    secret = SealedField(help_text="Signs the deliveries (shown once).")
    active = models.BooleanField(default=True, help_text="Off: no event is sent to it.")
    created_at = models.DateTimeField(auto_now_add=True)
    # every attempt since this one failed (cleared by a delivered one); ``failures`` counts them
    failing_since = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    # switched off by itself after failing for ``orchestration.webhooks.DISABLE_AFTER`` (not by
    # a person); the managers were mailed once, at ``disabled_mailed_at``
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.description or self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(TenantOwned):
    """One event for one endpoint: written in the transaction of the change it tells of, then
    posted outside any transaction, again with a growing wait after a failure (at most
    ``core.webhooks.MAX_ATTEMPTS``). Its ``message_id`` is the ``webhook-id`` every attempt
    carries: the receiver drops a second delivery of the same one."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField("webhook-id", max_length=40, unique=True)
    event = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # the conversation it tells of (no foreign key: the delivery outlives nothing, and an
    # erasure deletes by it, orchestration.erasure)
    conversation_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.message_id} ({self.status})"
