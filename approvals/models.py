"""Approvals (SPEC 7): named groups of approvers (``group:<name>`` in approval rules), the
tenant's exchange rates, approval requests and their decisions, action executions, the demo
actions' ledger and the append-only audit log."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from core.currencies import validate_currency
from core.models import (
    ApiKey,
    Tenant,
    TenantOwned,
)
from core.states import StateGuarded, StateTable

# an amount in the tenant's currency (actions' amounts are bounded by their schema)
AMOUNT_DIGITS = 24
AMOUNT_PLACES = 4


class ExchangeRate(TenantOwned):
    """What one unit of a currency is worth in the tenant's currency, set by the tenant: an
    action's amount in another currency is converted with it for the approval rules, and an
    amount in a currency without a rate is refused."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="exchange_rates")
    currency = models.CharField(
        max_length=3, validators=[validate_currency], help_text="ISO 4217 code, e.g. USD."
    )
    rate = models.DecimalField(
        max_digits=20,
        decimal_places=10,
        validators=[MinValueValidator(Decimal("0.0000000001"))],
        help_text="One unit of this currency in the tenant's currency: with a tenant in EUR, "
        "1 USD = 0.92 EUR is 0.92.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "currency"],
                name="exchange_rate_unique_per_tenant",
                violation_error_message="This tenant already has a rate for this currency.",
            ),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate.normalize():f}"

    def clean(self) -> None:
        super().clean()
        tenant = Tenant.objects.filter(pk=self.tenant_id).only("currency").first()
        if tenant is not None and self.currency == tenant.currency:
            raise ValidationError(
                {"currency": f"{self.currency} is the tenant's own currency; it needs no rate."}
            )


# --- requests, decisions, executions ----------------------------------------------------------


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    EXPIRED = "expired", "Expired"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"


# A request waits, is decided once (or expires), and an approved one follows its execution.
APPROVAL_STATES = StateTable(
    "approval request",
    {
        ApprovalStatus.PENDING: {
            ApprovalStatus.APPROVED,
            ApprovalStatus.DENIED,
            ApprovalStatus.EXPIRED,
        },
        ApprovalStatus.APPROVED: {ApprovalStatus.EXECUTED, ApprovalStatus.FAILED},
        ApprovalStatus.DENIED: set(),
        ApprovalStatus.EXPIRED: set(),
        ApprovalStatus.EXECUTED: set(),
        ApprovalStatus.FAILED: set(),
    },
)


class ApprovalRequest(StateGuarded, TenantOwned):
    """A proposed action that waits for people (SPEC 7). Only ``approvals.services`` writes
    ``status``, through ``APPROVAL_STATES`` (a direct ``save()`` or ``update()`` of it is
    refused)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="approval_requests"
    )
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The person who asked, when a person did.",
    )
    requested_by_label = models.CharField(
        max_length=200, help_text="Who asked: agent:<slug>, api-key:<name> or a username."
    )
    requested_by_key = models.ForeignKey(
        ApiKey,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The integration key it was asked with, when one was.",
    )
    amount = models.DecimalField(
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        null=True,
        blank=True,
        help_text="The action's amount in the tenant's currency (for running totals).",
    )
    approvers = models.JSONField(
        default=list, blank=True, help_text="Usernames and group:<name>, from the rule."
    )
    quorum = models.PositiveSmallIntegerField(default=1)
    rule = models.CharField(
        max_length=200, blank=True, help_text="The rule set (and version) that asked for it."
    )
    rule_detail = models.JSONField(
        default=list, blank=True, help_text="Why the rule asked for approval."
    )
    reason = models.TextField(blank=True, help_text="The deciding reason (deny, expiry).")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    emailed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the approvers were e-mailed (once)."
    )
    email_taken_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker took the approvers' e-mail to send it (a lease: a worker that "
        "died sending it leaves it to the next delivery after EMAIL_LEASE).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "conversation", "idempotency_key"],
                name="approval_request_idempotent",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "-created_at"], name="approval_tenant_status"),
            # the expiry sweep: pending requests by deadline
            models.Index(fields=["status", "expires_at"], name="approval_status_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} ({self.status})"


class CauseKind(models.TextChoices):
    """How a person caused a request (SPEC 1: nobody decides an approval they caused)."""

    ASKED = "asked", "asked for it"
    ASKED_KEY = "asked_key", "asked for it through an API key they created"
    OPENED = "opened", "opened the conversation"
    OPENED_KEY = "opened_key", "opened the conversation through an API key they created"
    WROTE = "wrote", "wrote the customer's message the AI answered"
    WROTE_KEY = "wrote_key", "sent the customer's message through an API key they created"


class ApprovalCause(TenantOwned):
    """A person who caused a request, and how; recorded when the request is made. They may
    not decide it (and so never count towards its quorum)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="causes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    kind = models.CharField(max_length=12, choices=CauseKind.choices)
    key_name = models.CharField(
        max_length=100, blank=True, help_text="The API key, for the kinds through a key."
    )

    class Meta:
        ordering = ["request", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user", "kind"], name="approval_cause_once_per_kind"
            ),
        ]
        indexes = [models.Index(fields=["user", "request"], name="approval_cause_user")]

    def __str__(self) -> str:
        return f"{self.username} {self.get_kind_display()}"


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approve"
    DENY = "deny", "Deny"


class ApprovalDecision(TenantOwned):
    """One approver's verdict on a request; one per approver (a quorum counts distinct
    people)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approver_label = models.CharField(max_length=200)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["request", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"], name="approval_decision_once_per_approver"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver_label}: {self.verdict}"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# An execution is queued, runs (an attempt may start again when its task is delivered twice),
# goes back to the queue after a failed attempt, and ends succeeded or failed. An attempt may
# find it queued again (another worker's failed attempt) and finish it from there.
EXECUTION_STATES = StateTable(
    "action execution",
    {
        ExecutionStatus.QUEUED: {
            ExecutionStatus.QUEUED,
            ExecutionStatus.RUNNING,
            ExecutionStatus.SUCCEEDED,
            ExecutionStatus.FAILED,
        },
        ExecutionStatus.RUNNING: {
            ExecutionStatus.QUEUED,
            ExecutionStatus.RUNNING,
            ExecutionStatus.SUCCEEDED,
            ExecutionStatus.FAILED,
        },
        ExecutionStatus.SUCCEEDED: set(),
        ExecutionStatus.FAILED: set(),
    },
)


class ActionExecution(StateGuarded, TenantOwned):
    """One run of an action, approved or not needing approval. ``execution_key`` is unique, so
    an action is executed at most once whatever races; the executor locks this row. Only
    ``approvals.services`` writes ``status``, through ``EXECUTION_STATES``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    request = models.OneToOneField(
        ApprovalRequest,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="execution",
        help_text="Empty when the action needed no approval.",
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="action_executions"
    )
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    execution_key = models.CharField(max_length=300, unique=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    requested_by_label = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(
        max_digits=AMOUNT_DIGITS,
        decimal_places=AMOUNT_PLACES,
        null=True,
        blank=True,
        help_text="The action's amount in the tenant's currency (for running totals).",
    )
    status = models.CharField(
        max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # the sweep that re-sends executions whose task was lost
            models.Index(fields=["status", "updated_at"], name="execution_status_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.execution_key} ({self.status})"


class LedgerEntry(TenantOwned):
    """What the demo actions did, one row per execution key (so a second run adds nothing)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    action = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    execution_key = models.CharField(max_length=300, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.action} {self.execution_key}"


# --- the audit log ----------------------------------------------------------------------------


class AppendOnlyError(Exception):
    """The audit log is append-only: its rows are never changed or deleted."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The audit log cannot be changed.")

    def delete(self):
        raise AppendOnlyError("The audit log cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("The audit log cannot be changed.")

    def update_or_create(self, defaults=None, create_defaults=None, **kwargs):
        raise AppendOnlyError("The audit log cannot be changed.")

    def _update(self, values):  # the path of Model.save() on an existing row
        raise AppendOnlyError("The audit log cannot be changed.")


class AuditKind(models.TextChoices):
    REQUEST = "request", "Request"
    DECISION = "decision", "Decision"
    EXECUTION = "execution", "Execution"
    EXPIRY = "expiry", "Expiry"


class AuditLog(TenantOwned):
    """Every request, decision and execution: who, when, from where (SPEC 7).

    Append-only in the model layer: ``save`` of an existing row, ``delete``, and the manager's
    ``update``/``delete``/``bulk_update`` raise :class:`AppendOnlyError`; the admin is
    read-only. The objects it speaks of are referenced by id, not by foreign key, so deleting
    a conversation or a person never rewrites a row here; the tenant is protected (a tenant
    with an audit trail cannot be deleted).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=AuditKind.choices)
    approval_id = models.BigIntegerField(null=True, blank=True)
    execution_id = models.BigIntegerField(null=True, blank=True)
    conversation_id = models.UUIDField(null=True, blank=True)
    action = models.CharField(max_length=100, blank=True)
    actor_label = models.CharField(max_length=200)
    actor_id = models.BigIntegerField(
        null=True, blank=True, help_text="The person's user id, when a person acted."
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time"),
            models.Index(fields=["approval_id"], name="audit_approval"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_label} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AppendOnlyError("The audit log cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit log cannot be deleted.")
