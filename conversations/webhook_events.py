"""What the conversations tell a tenant's webhooks (``core.webhooks``): a conversation started or
resolved (a message the customer sees is told by ``conversations.messages``). Each is built
only when an endpoint of the tenant wants the event."""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation
from core.webhooks import webhook_event


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    """A conversation as a webhook tells of it (no related rows read but its agent's)."""
    return {
        "id": str(conversation.pk),
        "state": conversation.state,
        "channel": conversation.channel,
        "subject": conversation.email_subject or None,
        "currentAgentId": conversation.current_agent.slug,
        "customer": {
            "id": conversation.customer_ref,
            "name": conversation.customer_name,
            "email": conversation.customer_email,
            # a signed-in visitor of the tenant's website, who it signed for
            "verified": conversation.customer_verified,
        },
        "createdAt": conversation.created_at,
        "resolvedAt": conversation.resolved_at,
        "mergedInto": str(conversation.merged_into_id) if conversation.merged_into_id else None,
    }


def conversation_told(conversation: Conversation, event: str) -> None:
    webhook_event(
        conversation.tenant_id,
        event,
        lambda: {"conversation": conversation_data(conversation)},
        conversation_id=conversation.pk,
    )
