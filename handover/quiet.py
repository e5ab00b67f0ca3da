"""Quiet conversations resolved by themselves, where the tenant asks for it
(``Tenant.resolve_quiet_after``, its admin page), as Chatwoot's auto-resolve and Zendesk's
automations do.

A web visitor who got their answer closes the tab; nobody resolves the conversation, and it stays
open for ever: among the person's conversations (taking a seat of their limit), in the counts,
and with its files past the tenant's retention. The sweep "Handover: quiet conversations
resolved" resolves a conversation when:

- it is ``active``, ``stalled`` or ``with_human``, and nobody has written in it (the customer,
  the AI, a person, a note) for the tenant's ``resolve_quiet_after``;
- we answered last: a conversation whose customer waits for an answer stays open (the silence
  sweep hands it to people; a person holding it owes the answer);
- no AI answer is on its way, and the person holding it did not snooze it.

It is resolved as a person's resolve is (``handover.services.conversation_close``): its handoff
closes, the inboxes hear it, the holder's seat frees, and the timeline and a private note say
why ("Resolved by itself: nobody wrote for 2 days"). The customer is not written to: a mail
that says "we closed your case" is noise; they write again, and a new conversation opens.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from conversations import lifecycle
from conversations.messages import message_post
from conversations.models import Conversation, MessageRole, State
from conversations.selectors import customer_waits
from core.models import Tenant
from handover.models import Handoff, Status
from handover.services import conversation_close

TASK_NAME = "handover.resolve_quiet"
BATCH = 100  # conversations looked at in one transaction
RUN_MAX = 2000  # conversations one run resolves at most; the next run goes on
OPEN = (State.ACTIVE, State.STALLED, State.WITH_HUMAN)


def span_text(span: dt.timedelta) -> str:
    """A setting's time span in words: "2 days", "1 hour", "90 minutes"."""
    minutes = int(span.total_seconds() // 60)
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minutes"  # pragma: no cover (a whole number of minutes is always found)


def quiet_resolve_sweep(*, now: dt.datetime | None = None) -> int:
    """Resolve the quiet conversations of every tenant that asks for it; returns how many."""
    now = now or timezone.now()
    resolved = 0
    tenants = Tenant.objects.filter(resolve_quiet_after__isnull=False)
    for tenant_id, after in tenants.values_list("pk", "resolve_quiet_after"):
        if after is None or after <= dt.timedelta(0):
            continue
        position: tuple[dt.datetime, object] | None = None
        while resolved < RUN_MAX:
            done, position = _batch_resolved(tenant_id, after, now, position)
            resolved += done
            if position is None:
                break
    return resolved


def _batch_resolved(
    tenant_id: int, after: dt.timedelta, now: dt.datetime, position: tuple | None
) -> tuple[int, tuple | None]:
    """One transaction: up to ``BATCH`` conversations quiet since before ``now - after``,
    oldest first from ``position`` (a row another sweep holds is skipped); returns how many it
    resolved and where the next batch starts (None: no more)."""
    with transaction.atomic():
        rows = Conversation.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            tenant_id=tenant_id,
            state__in=OPEN,
            last_activity_at__lt=now - after,
            ai_turn_at__isnull=True,
        )
        if position is not None:
            moment, pk = position
            rows = rows.filter(last_activity_at__gte=moment).exclude(
                last_activity_at=moment, pk__lte=pk
            )
        batch = list(rows.order_by("last_activity_at", "pk")[:BATCH])
        done = sum(_resolved(conversation, after, now) for conversation in batch)
    more = (batch[-1].last_activity_at, batch[-1].pk) if len(batch) == BATCH else None
    return done, more


def _resolved(conversation: Conversation, after: dt.timedelta, now: dt.datetime) -> int:
    if customer_waits(conversation) or _snoozed(conversation, now):
        return 0
    holder = conversation.assignee if conversation.state == State.WITH_HUMAN else None
    quiet = span_text(after)
    try:
        conversation_close(conversation, reason=f"quiet for {quiet}", holder=holder)
    except lifecycle.ConcurrentChange:
        return 0
    message_post(
        conversation=conversation,
        role=MessageRole.NOTE,
        author="system",
        text=f"Resolved by itself: nobody wrote for {quiet} (the team resolves quiet "
        f"conversations after {quiet}).",
    )
    return 1


def _snoozed(conversation: Conversation, now: dt.datetime) -> bool:
    return Handoff.objects.filter(
        conversation=conversation, status=Status.CLAIMED, snoozed_until__gt=now
    ).exists()
