"""Decision events: ``record`` writes one (a typed event of ``conversations.decisions``) in the
caller's transaction; ``events_buffered`` writes a block's events in one INSERT and sends its
notifications together after commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from conversations.decisions import Decision
from conversations.models import Conversation, DecisionEvent, Message
from core.compiled import CompiledInsert
from core.events import notifications_buffered
from core.observability.metrics import decision_recorded
from core.observability.tracing import trace_id

# the block's events in one INSERT whose SQL is written once (core/compiled.py)
INSERT_EVENTS = CompiledInsert(DecisionEvent)
_buffer: ContextVar[list[DecisionEvent] | None] = ContextVar("decision_events", default=None)


@contextmanager
def events_buffered() -> Iterator[None]:
    """Collect the decision events recorded inside the block and write them in one INSERT at
    its end, and send its notifications together after commit (the pipeline records half a
    dozen events and several notifications per message). Use inside the transaction."""
    token = _buffer.set([])
    try:
        with notifications_buffered():
            yield
            pending = _buffer.get()
            if pending:
                INSERT_EVENTS.insert(pending)
    finally:
        _buffer.reset(token)


def record(
    *,
    conversation: Conversation,
    event: Decision,
    duration_ms: float = 0.0,
    rule: str = "",
    message: Message | None = None,
    agent_slug: str = "",
) -> DecisionEvent:
    """Write ``event`` (its type and detail come from it) with the columns the timeline and
    the metrics read: the rule behind it, the agent, the message and the step's duration."""
    if not event.type:
        raise TypeError(f"{type(event).__name__} is not an event type that can be recorded")
    row = DecisionEvent(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        message=message,
        type=event.type,
        detail=event.to_detail(),
        duration_ms=round(duration_ms, 3),
        rule=rule[:200],
        agent_slug=agent_slug,
        trace_id=trace_id(),
    )
    decision_recorded(event)
    pending = _buffer.get()
    if pending is not None:
        pending.append(row)
    else:
        row.save()
    return row
