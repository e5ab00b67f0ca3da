"""Manager insight (SPEC 9): the metrics dashboard's admin entry, rule backtests and their
results, and metric alerts."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from conversations.models import (
    Conversation,
    DecisionEvent,
)
from core.models.tenants import (
    Tenant,
    TenantOwned,
)

BACKTEST_MAX_CONVERSATIONS = 5000


class MetricsDashboard(DecisionEvent):
    """No rows of its own: the admin entry of the metrics dashboard, the conversation
    timelines and the CSV export (``insight.admin``)."""

    class Meta:
        proxy = True
        verbose_name = "metrics dashboard"
        verbose_name_plural = "metrics dashboard"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Backtest(TenantOwned):
    """A draft rules document for an agent replayed against the tenant's last ``size``
    conversations (``insight.backtests``). Only the backtest service writes
    ``status``, ``progress`` and ``summary``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="+")
    draft = models.JSONField(help_text="The draft rules document (the API's JSON shape).")
    size = models.PositiveIntegerField(
        "last N conversations",
        validators=[MinValueValidator(1), MaxValueValidator(BACKTEST_MAX_CONVERSATIONS)],
    )
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    progress = models.PositiveIntegerField(default=0, help_text="Conversations replayed so far.")
    total = models.PositiveIntegerField(default=0, help_text="Conversations to replay.")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "orchestration_backtest"  # the table from before the model moved here
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="backtest_tenant_created")]

    def __str__(self) -> str:
        return f"backtest #{self.pk} of {self.agent_id} on {self.size} conversations"

    @property
    def finished(self) -> bool:
        return self.status in (BacktestStatus.DONE, BacktestStatus.FAILED)


class BacktestDifference(TenantOwned):
    """One conversation that would have been routed or escalated differently under the
    draft, with the messages where the decisions part."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    backtest = models.ForeignKey(Backtest, on_delete=models.CASCADE, related_name="differences")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    conversation_created_at = models.DateTimeField()
    routes_differently = models.BooleanField(default=False)
    escalates_differently = models.BooleanField(default=False)
    live = models.CharField(max_length=200, help_text="What happened at the first difference.")
    draft = models.CharField(max_length=200, help_text="What the draft would have done.")
    messages = models.JSONField(
        default=list, help_text="Every message where the decisions differ: turn, text, both."
    )

    class Meta:
        db_table = "orchestration_backtestdifference"  # the table from before the model moved here
        ordering = ["backtest", "-conversation_created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["backtest", "conversation"], name="backtest_difference_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.live} -> {self.draft}"


class AlertMetric(models.TextChoices):
    ESCALATION_RATE = "escalationRate", "Escalation rate (0 to 1) over the window"
    UNCLAIMED_HANDOFFS = "unclaimedHandoffs", "Unclaimed handoffs waiting now"


class MetricAlert(TenantOwned):
    """A manager's threshold: when the metric reaches it, the tenant's managers get an e-mail,
    at most once per window (``insight.alerts``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=40, choices=AlertMetric.choices)
    threshold = models.FloatField(
        validators=[MinValueValidator(0)],
        help_text="Alert when the value reaches this (escalation rate: 0.25 means 25%).",
    )
    window_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(60 * 24 * 31)],
        help_text="The escalation rate is measured over this window, and at most one e-mail "
        "is sent per window.",
    )
    is_active = models.BooleanField("active", default=True)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_value = models.FloatField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orchestration_metricalert"  # the table from before the model moved here
        ordering = ["tenant", "metric", "threshold"]
        indexes = [models.Index(fields=["is_active"], name="alert_active")]

    def __str__(self) -> str:
        return f"{self.metric} >= {self.threshold:g} (per {self.window_minutes} min)"
