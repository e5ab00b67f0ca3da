"""A signed-in visitor's conversations, for the web chat's "Your conversations" (as Intercom's
Messenger lists a customer's conversations): the web conversations started by a visitor whom
the tenant's website signed for with this id (``handover.identity``), open and resolved, the
latest activity first. Each comes with the last message the customer was shown (never a
private note) and whether the team or the assistant wrote after the last one the customer's
chat had on screen (a person's reply while they were away).

Only a conversation the chat started for a signed-in visitor is theirs: an integration's
conversation with the same customer id, or an anonymous visitor's, is not. Two queries, however
many conversations the visitor has.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet, Subquery

from conversations.models import Channel, Conversation, Message, MessageRole, State
from conversations.selectors import shown_to_customer
from core.errors import Invalid
from core.models import Tenant
from handover.models import CsatRating

HISTORY_MAX = 20  # the chat lists this many, the latest first
PREVIEW_MAX = 140  # characters of the last message

_REPLIES = (MessageRole.AGENT, MessageRole.HUMAN)  # a notice is no reply to read
_FROM = {
    MessageRole.CUSTOMER: "you",
    MessageRole.AGENT: "assistant",
    MessageRole.HUMAN: "team",
    MessageRole.SYSTEM: "notice",
}


def theirs(tenant: Tenant, customer_id: str) -> QuerySet[Conversation]:
    """The web conversations the chat started for the signed-in visitor ``customer_id``."""
    return Conversation.objects.filter(
        tenant=tenant, channel=Channel.WEB, customer_ref=customer_id, customer_verified=True
    )


def signed_in_conversations(tenant: Tenant, customer_id: str) -> list[dict[str, Any]]:
    """The visitor's conversations as the chat lists them (at most ``HISTORY_MAX``)."""
    shown = shown_to_customer()
    rows = list(
        theirs(tenant, customer_id)
        .annotate(
            last_id=Subquery(shown.values("id")[:1]),
            last_reply_id=Subquery(shown.filter(role__in=_REPLIES).values("id")[:1]),
        )
        .order_by("-last_activity_at", "-pk")
        .values(
            "pk",
            "state",
            "created_at",
            "last_activity_at",
            "customer_seen_message_id",
            "last_id",
            "last_reply_id",
        )[:HISTORY_MAX]
    )
    last = Message.objects.in_bulk([row["last_id"] for row in rows if row["last_id"]])
    return [_listed(row, last.get(row["last_id"])) for row in rows]


def _listed(row: dict[str, Any], message: Message | None) -> dict[str, Any]:
    seen = row["customer_seen_message_id"] or 0
    return {
        "conversationId": str(row["pk"]),
        "open": row["state"] != State.RESOLVED,
        "startedAt": row["created_at"].isoformat(),
        "lastActivityAt": row["last_activity_at"].isoformat(),
        # the assistant or the team wrote after the last message the customer's chat showed
        "unread": bool(row["last_reply_id"]) and row["last_reply_id"] > seen,
        "last": _preview(message) if message is not None else None,
    }


def _preview(message: Message) -> dict[str, Any]:
    text = " ".join(message.text.split())
    if not text and message.attachments:
        text = f"Sent {message.attachments[0].get('filename') or 'a file'}"
    if len(text) > PREVIEW_MAX:
        text = text[: PREVIEW_MAX - 1].rstrip() + "…"
    return {
        "from": _FROM.get(message.role, "notice"),
        # a person of the team by their name; the AI is the tenant's one assistant
        "author": message.author if message.role == MessageRole.HUMAN else "",
        "text": text,
        "createdAt": message.created_at.isoformat(),
    }


def signed_in_conversation(tenant: Tenant, customer_id: str, conversation_id: Any) -> Conversation:
    """The visitor's conversation ``conversation_id`` (open or resolved); Invalid naming
    ``conversationId`` when it is no conversation's id, Conversation.DoesNotExist when it is
    not theirs."""
    try:
        pk = uuid.UUID(conversation_id) if isinstance(conversation_id, str) else None
    except ValueError:
        pk = None
    if pk is None:
        raise Invalid(fields={"conversationId": "must be a conversation's id"})
    return theirs(tenant, customer_id).get(pk=pk)


def rating_of(conversation: Conversation) -> dict[str, Any] | None:
    """The customer's rating of ``conversation`` as their chat shows it (another device's too),
    or None when it has none (an open conversation has none)."""
    if conversation.state != State.RESOLVED:
        return None
    found = CsatRating.objects.filter(conversation=conversation).values("score", "comment").first()
    if found is None:
        return None
    return {"score": found["score"], "commented": bool(found["comment"])}
