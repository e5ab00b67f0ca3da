"""The conversation lifecycle of SPEC 3 as a table, enforced in one service.

    triaged -> active -> (stalled | at_risk) -> handing_off -> with_human -> resolved

``stalled`` and ``at_risk`` may return to ``active`` (after a re-route) or go on to
``handing_off``; ``with_human`` may return to ``active`` (a human hands back to the AI); any
state may be resolved. One addition, for SPEC 4.1 step 5: an escalation rule hands an
``active`` conversation straight to humans (``active -> handing_off``).

Only ``conversation_transition`` writes ``Conversation.state``, through the table's
``transition()`` (``core.states``): a conditional UPDATE on the state it read, so two writers
cannot both move the same conversation; a direct ``save()`` or ``update()`` of the state is
refused.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from conversations.decisions import StateChanged
from conversations.events import record
from conversations.models import (
    Conversation,
    DecisionEvent,
    State,
)
from conversations.webhook_events import conversation_told
from core.errors import Conflict
from core.events import (
    conversation_group,
    notify_on_commit,
)
from core.models import WebhookEventType
from core.states import StateTable

LIFECYCLE = StateTable(
    "conversation",
    {
        State.TRIAGED: {State.ACTIVE, State.RESOLVED},
        State.ACTIVE: {State.STALLED, State.AT_RISK, State.HANDING_OFF, State.RESOLVED},
        State.STALLED: {State.ACTIVE, State.HANDING_OFF, State.RESOLVED},
        State.AT_RISK: {State.ACTIVE, State.HANDING_OFF, State.RESOLVED},
        State.HANDING_OFF: {State.WITH_HUMAN, State.RESOLVED},
        State.WITH_HUMAN: {State.ACTIVE, State.RESOLVED},
        State.RESOLVED: set(),
    },
)


class ConcurrentChange(Conflict):
    """Someone else changed the conversation's state since it was read."""

    code = "concurrent_change"


def conversation_transition(
    *,
    conversation: Conversation,
    to: str,
    reason: str,
    rule: str = "",
    detail: dict[str, Any] | None = None,
) -> DecisionEvent:
    """Move ``conversation`` to ``to`` and record ``state.changed``; call it inside the
    transaction that made the decision. ``detail`` sets the event's optional fields
    (``StateChanged``: ``risk``, ``categories``)."""
    current = conversation.state
    event = StateChanged(from_=current, to=to, reason=reason, **(detail or {}))
    now = timezone.now()
    also: dict[str, Any] = {"updated_at": now}
    if to == State.RESOLVED:
        also["resolved_at"] = now
    if to in (State.HANDING_OFF, State.WITH_HUMAN, State.RESOLVED):
        # people have it now: an AI answer still pending is no longer waited for (its outcome
        # is dropped when it comes, even if the conversation is handed back to the AI by then)
        also["ai_turn_at"] = None
    if not LIFECYCLE.transition(conversation, to=to, from_=current, **also):
        raise ConcurrentChange(f"conversation {conversation.pk} is no longer {current}")
    notify_on_commit(
        [conversation_group(conversation.pk)],
        {"type": "conversation.updated", "conversationId": str(conversation.pk), "state": to},
    )
    if to == State.RESOLVED:  # the transition set the instance's state and resolved_at
        conversation_told(conversation, WebhookEventType.CONVERSATION_RESOLVED)
    return record(
        conversation=conversation,
        event=event,
        rule=rule,
    )
