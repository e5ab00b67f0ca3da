"""A customer's data, exported at their request (GDPR's right of access and to data
portability; what a team sends a customer who asks "what do you keep about me?" before, or
instead of, erasing it: ``orchestration.erasure``).

The customer is named as for an erasure (``customer``, ``email`` or ``conversation``); the
export is every conversation of theirs in the tenant, oldest first: the customer's details as
each conversation holds them, every message as the API shows it (ours, theirs, the system's,
and the team's private notes about them, which are data about them too; the signals the
detectors read, which are profiling), each file with its signed link, the approvals asked in it
(the action, its parameters, what became of it), their rating with the words they added, and
the copies of it sent by e-mail (``handover.transcripts``: where, when). At most
``EXPORT_MAX_CONVERSATIONS`` conversations (``truncated`` says there were more). Five queries
whatever the number of conversations."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.utils import timezone

from approvals.models import ApprovalRequest
from conversations.messages import message_json
from conversations.models import Conversation, Message
from handover.models import CsatRating, TranscriptMail
from orchestration.erasure import customer_named

EXPORT_MAX_CONVERSATIONS = 500


def customer_export(*, tenant_id: int, kind: Any, value: Any) -> dict[str, Any]:
    """The customer's data, as one JSON document (Invalid naming ``kind`` or ``value``)."""
    kept, mine, _emails = customer_named(tenant_id, kind, value)
    found = list(
        Conversation.objects.filter(mine, tenant_id=tenant_id).order_by("created_at", "pk")[
            : EXPORT_MAX_CONVERSATIONS + 1
        ]
    )
    conversations = found[:EXPORT_MAX_CONVERSATIONS]
    ids = [c.pk for c in conversations]
    messages: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for message in Message.objects.filter(tenant_id=tenant_id, conversation_id__in=ids).order_by(
        "id"
    ):
        messages[message.conversation_id].append(message_json(message))
    approvals: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in (
        ApprovalRequest.objects.filter(tenant_id=tenant_id, conversation_id__in=ids)
        .order_by("created_at", "pk")
        .values("conversation_id", "action", "params", "status", "created_at", "decided_at")
    ):
        approvals[row.pop("conversation_id")].append(
            {
                "action": row["action"],
                "params": row["params"],
                "status": row["status"],
                "createdAt": row["created_at"],
                "decidedAt": row["decided_at"],
            }
        )
    ratings = {
        conversation_id: {"score": score, "comment": comment}
        for conversation_id, score, comment in CsatRating.objects.filter(
            tenant_id=tenant_id, conversation_id__in=ids
        ).values_list("conversation_id", "score", "comment")
    }
    copies: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for conversation_id, to, by_name, created_at, sent_at in (
        TranscriptMail.objects.filter(tenant_id=tenant_id, conversation_id__in=ids)
        .order_by("created_at", "pk")
        .values_list("conversation_id", "to", "by_name", "created_at", "sent_at")
    ):
        copies[conversation_id].append(
            {"to": to, "askedBy": by_name, "createdAt": created_at, "sentAt": sent_at}
        )
    return {
        "exportedAt": timezone.now(),
        "named": {"kind": kind, "value": kept},
        "truncated": len(found) > EXPORT_MAX_CONVERSATIONS,
        "conversations": [
            {
                "id": str(c.pk),
                "channel": c.channel,
                "state": c.state,
                "createdAt": c.created_at,
                "resolvedAt": c.resolved_at,
                "customer": {
                    "id": c.customer_ref,
                    "name": c.customer_name,
                    "email": c.customer_email,
                    "attributes": c.customer_attributes or {},
                },
                "messages": messages.get(c.pk, []),
                "approvals": approvals.get(c.pk, []),
                "rating": ratings.get(c.pk),
                "copies": copies.get(c.pk, []),
            }
            for c in conversations
        ],
    }
