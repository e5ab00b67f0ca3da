"""Reads of the handover: handoffs with their packs in the API's shape, the queue in priority
order, and the inbox snapshot a socket sends on connect."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from handover.models import OPEN_STATUSES, Handoff, Status
from handover.packs import waiting_minutes
from handover.presence import online_agents
from orchestration.models import Message, Tenant


def pack_json(handoff: Handoff) -> dict[str, Any] | None:
    pack = getattr(handoff, "pack", None)
    if pack is None:
        return None
    return {
        "summary": pack.summary,
        "keyDetails": pack.key_details,
        "sentiment": pack.sentiment,
        "suggestions": pack.suggestions,
        "transcript": pack.transcript,
    }


def handoff_json(
    handoff: Handoff, *, now: dt.datetime | None = None, target: dt.timedelta | None = None
) -> dict[str, Any]:
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
        "customer": handoff.conversation.customer_name or handoff.conversation.customer_ref,
        "channel": handoff.conversation.channel,
        "waitingMinutes": waited,
        "offerExpiresAt": handoff.offer_expires_at,
        "pack": pack_json(handoff),
        "createdAt": handoff.created_at,
    }
    if target is not None:
        data["responseTargetMinutes"] = int(target.total_seconds() // 60)
        data["breached"] = handoff.status != Status.CLAIMED and waited * 60 > target.total_seconds()
    return data


def handoffs_for(tenant: Tenant):
    return (
        Handoff.objects.filter(tenant=tenant)
        .select_related("conversation", "claimed_by", "pack")
        .order_by("-priority", "created_at")
    )


def open_handoffs(tenant: Tenant, *, limit: int = 200) -> list[Handoff]:
    return list(handoffs_for(tenant).filter(status__in=OPEN_STATUSES)[:limit])


def inbox_snapshot(
    user, tenant: Tenant, *, handoffs: bool = True, approvals: bool = True
) -> dict[str, Any]:
    """What the inbox socket shows on (re)connect: the open handoffs and who is online (when
    ``handoffs``: a human agent's socket), the pending approvals the person may decide (when
    ``approvals``: an approver's)."""
    from approvals.selectors import approval_json, approvals_pending_for

    target = tenant.response_target
    now = timezone.now()
    return {
        "type": "inbox.snapshot",
        "handoffs": [handoff_json(h, now=now, target=target) for h in open_handoffs(tenant)]
        if handoffs
        else [],
        "approvals": [approval_json(a) for a in approvals_pending_for(user)] if approvals else [],
        "online": sorted(
            p.user.get_username() for p in online_agents(tenant).select_related("user")
        )
        if handoffs
        else [],
    }


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversationId": str(message.conversation_id),
        "role": message.role,
        "author": message.author,
        "text": message.text,
        "createdAt": message.created_at.isoformat(),
    }
