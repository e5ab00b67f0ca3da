"""The conversation lifecycle of SPEC 3 as a table, enforced in one service.

    triaged -> active -> (stalled | at_risk) -> handing_off -> with_human -> resolved

``stalled`` and ``at_risk`` may return to ``active`` (after a re-route) or go on to
``handing_off``; ``with_human`` may return to ``active`` (a human hands back to the AI); any
state may be resolved. One addition, for SPEC 4.1 step 5: an escalation rule hands an
``active`` conversation straight to humans (``active -> handing_off``).

Only ``conversation_transition`` writes ``Conversation.state``; it does so with a conditional
UPDATE on the state it read, so two writers cannot both move the same conversation.
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
from core.events import (
    conversation_group,
    notify_on_commit,
)

TRANSITIONS: dict[str, frozenset[str]] = {
    State.TRIAGED: frozenset({State.ACTIVE, State.RESOLVED}),
    State.ACTIVE: frozenset({State.STALLED, State.AT_RISK, State.HANDING_OFF, State.RESOLVED}),
    State.STALLED: frozenset({State.ACTIVE, State.HANDING_OFF, State.RESOLVED}),
    State.AT_RISK: frozenset({State.ACTIVE, State.HANDING_OFF, State.RESOLVED}),
    State.HANDING_OFF: frozenset({State.WITH_HUMAN, State.RESOLVED}),
    State.WITH_HUMAN: frozenset({State.ACTIVE, State.RESOLVED}),
    State.RESOLVED: frozenset(),
}


class InvalidTransition(Exception):
    def __init__(self, current: str, target: str):
        self.current, self.target = current, target
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none"
        super().__init__(
            f"A conversation cannot go from {current} to {target} (from {current}: {allowed})."
        )


class ConcurrentChange(Exception):
    """Someone else changed the conversation's state since it was read."""


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


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
    if not can_transition(current, to):
        raise InvalidTransition(current, to)
    event = StateChanged(from_=current, to=to, reason=reason, **(detail or {}))
    now = timezone.now()
    changes: dict[str, Any] = {"state": to, "updated_at": now}
    if to == State.RESOLVED:
        changes["resolved_at"] = now
    updated = Conversation.objects.filter(pk=conversation.pk, state=current).update(**changes)
    if updated != 1:
        raise ConcurrentChange(f"conversation {conversation.pk} is no longer {current}")
    for field, value in changes.items():
        setattr(conversation, field, value)
    notify_on_commit(
        [conversation_group(conversation.pk)],
        {"type": "conversation.updated", "conversationId": str(conversation.pk), "state": to},
    )
    return record(
        conversation=conversation,
        event=event,
        rule=rule,
    )
