"""Reads of the handover: handoffs with their packs in the API's shape, and the queue in priority
order."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from core.models import Tenant
from handover.models import OPEN_STATUSES, Handoff, Status
from handover.targets import TargetBook, targets_json


def pack_json(handoff: Handoff) -> dict[str, Any] | None:
    pack = getattr(handoff, "pack", None)
    if pack is None:
        return None
    return {
        "summary": pack.summary,
        "brief": pack.brief,
        "keyDetails": pack.key_details,
        "sentiment": pack.sentiment,
        "suggestions": pack.suggestions,
        "transcript": pack.transcript,
        "activity": pack.activity,
    }


def handoff_json(
    handoff: Handoff, *, now: dt.datetime | None = None, targets: TargetBook | None = None
) -> dict[str, Any]:
    """A handoff in the API's shape; with ``targets``, its response targets too
    (``handover.targets``)."""
    now = now or timezone.now()
    waited = waiting_minutes(handoff, now)
    data = {
        "id": handoff.pk,
        "conversationId": str(handoff.conversation_id),
        "mode": handoff.mode,
        "status": handoff.status,
        "priority": handoff.priority,
        "reason": handoff.reason,
        "claimedBy": handoff.claimed_by.get_username() if handoff.claimed_by_id else None,
        # the group of human agents it went to (handover.groups); null: everyone
        "group": handoff.group.name if handoff.group_id else None,
        # when nobody of its group took it and it was opened to everyone; null: not (yet)
        "overflowedAt": handoff.overflowed_at.isoformat() if handoff.overflowed_at else None,
        "customer": handoff.conversation.customer_display,
        "channel": handoff.conversation.channel,
        "waitingMinutes": waited,
        "offerExpiresAt": handoff.offer_expires_at,
        "claimedAt": handoff.claimed_at,
        # put aside by its claimer until then, or until the customer writes (handover.snooze)
        "snoozedUntil": handoff.snoozed_until if _snoozed(handoff, now) else None,
        "pack": pack_json(handoff),
        # the conversation's tags (conversations.tags): the inbox's cards show them
        "tags": [tag.name for tag in handoff.conversation.tags.all()],
        "createdAt": handoff.created_at,
    }
    if targets is not None:
        found = targets.targets(
            priority=handoff.priority, entry_agent_id=handoff.conversation.entry_agent_id
        )
        data.update(targets_json(handoff, found, now))
    return data


def _snoozed(handoff: Handoff, now: dt.datetime) -> bool:
    return (
        handoff.status == Status.CLAIMED
        and handoff.snoozed_until is not None
        and handoff.snoozed_until > now
    )


def handoffs_for(tenant: Tenant):
    return (
        Handoff.objects.filter(tenant=tenant)
        .select_related("conversation", "claimed_by", "pack", "group")
        .prefetch_related("conversation__tags")
        .order_by("-priority", "created_at")
    )


def open_handoffs(tenant: Tenant, *, limit: int = 200) -> list[Handoff]:
    return list(handoffs_for(tenant).filter(status__in=OPEN_STATUSES)[:limit])


def waiting_minutes(handoff: Handoff, now=None) -> int:
    start = handoff.queued_at or handoff.created_at
    return int(((now or timezone.now()) - start).total_seconds() // 60)
