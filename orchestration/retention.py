"""How long a tenant keeps its conversations (``Tenant.conversation_retention_days``, set by its
manager in the admin): Zendesk's deletion schedules, Intercom's data retention. A support team
that must not keep customers' conversations for ever (its privacy policy says two years) sets
it once instead of erasing by hand.

``conversations_retention_sweep`` (the sweep "Conversations: past the tenant's retention",
hourly) deletes the conversations resolved longer ago than that, with everything in them, as an
erasure deletes them (``orchestration.erasure.conversations_delete``): in batches, each one
transaction under the rows' locks (``SKIP LOCKED``: a conversation someone holds is left for
the next run). One whose approval waits for a decision or its action, or whose action runs, is
left until it is done. The tenant's other data (its configuration, the audit log, the blocks)
is not touched."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, State
from core.models import Tenant
from orchestration.erasure import (
    IN_FLIGHT_APPROVALS,
    IN_FLIGHT_EXECUTIONS,
    conversations_delete,
)

log = logging.getLogger(__name__)

TASK_NAME = "orchestration.sweep_conversation_retention"
BATCH = 100  # conversations deleted in one transaction
RUN_MAX = 2000  # conversations one run deletes at most; the next run goes on


def conversations_retention_sweep(*, now: dt.datetime | None = None) -> int:
    """Delete the conversations resolved longer ago than their tenant's
    ``conversation_retention_days``. Returns how many were deleted."""
    now = now or timezone.now()
    deleted = 0
    kept_for = Tenant.objects.filter(conversation_retention_days__gte=1)
    for tenant_id, days in kept_for.values_list("pk", "conversation_retention_days"):
        before = now - dt.timedelta(days=days or 0)  # at least 1: filtered above
        for_tenant = 0
        while deleted < RUN_MAX:
            done = _batch_deleted(tenant_id, before)
            for_tenant += done
            deleted += done
            if done < BATCH:
                break
        if for_tenant:
            log.info(
                "tenant %s: %s conversations resolved before %s deleted (its retention: %s days)",
                tenant_id,
                for_tenant,
                before.date(),
                days,
            )
    return deleted


def _batch_deleted(tenant_id: int, before: dt.datetime) -> int:
    with transaction.atomic():
        ids = list(
            Conversation.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(tenant_id=tenant_id, state=State.RESOLVED, resolved_at__lt=before)
            .exclude(approval_requests__status__in=IN_FLIGHT_APPROVALS)
            .exclude(action_executions__status__in=IN_FLIGHT_EXECUTIONS)
            .order_by("resolved_at", "pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        return conversations_delete(tenant_id, ids)["conversations"]
