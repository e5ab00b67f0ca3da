"""Decision events and notifications: the one door for writing events and for side effects.

``record`` writes a decision event in the caller's transaction. ``notify_on_commit`` sends a
small event to channel-layer groups after the transaction commits (never inside it), so a
socket never hears of a row that was rolled back. Consumers re-read what they show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from orchestration.models import Conversation, DecisionEvent, Message

log = logging.getLogger(__name__)

_buffer: ContextVar[list[DecisionEvent] | None] = ContextVar("decision_events", default=None)
_outbox: ContextVar[list[tuple[list[str], dict[str, Any]]] | None] = ContextVar(
    "notifications", default=None
)


@contextmanager
def events_buffered() -> Iterator[None]:
    """Collect the decision events recorded inside the block and write them in one INSERT at
    its end, and send its notifications together after commit (the pipeline records half a
    dozen events and several notifications per message). Use inside the transaction."""
    events_token = _buffer.set([])
    outbox_token = _outbox.set([])
    try:
        yield
        pending = _buffer.get()
        if pending:
            DecisionEvent.objects.bulk_create(pending)
        notifications = _outbox.get()
        if notifications:
            transaction.on_commit(lambda: _send(notifications))
    finally:
        _buffer.reset(events_token)
        _outbox.reset(outbox_token)


def record(
    *,
    conversation: Conversation,
    type: str,
    detail: dict[str, Any] | None = None,
    duration_ms: float = 0.0,
    rule: str = "",
    message: Message | None = None,
    agent_slug: str = "",
) -> DecisionEvent:
    event = DecisionEvent(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        message=message,
        type=type,
        detail=detail or {},
        duration_ms=round(duration_ms, 3),
        rule=rule[:200],
        agent_slug=agent_slug,
    )
    pending = _buffer.get()
    if pending is not None:
        pending.append(event)
    else:
        event.save()
    return event


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the block's duration in milliseconds."""
    box = [0.0]
    start = time.perf_counter()
    try:
        yield box
    finally:
        box[0] = (time.perf_counter() - start) * 1000


def conversation_group(conversation_id) -> str:
    return f"conversation.{conversation_id}"


def tenant_inbox_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}.inbox"


def person_group(user_id: int) -> str:
    """Every open socket of one person (so their access can be re-checked, or ended)."""
    return f"person.{user_id}"


def notify_on_commit(groups: list[str], event: dict[str, Any]) -> None:
    """Send ``event`` to ``groups`` once the current transaction commits."""
    pending = _outbox.get()
    if pending is not None:
        pending.append((groups, event))
        return
    transaction.on_commit(lambda: _send([(groups, event)]))


def _send(notifications: list[tuple[list[str], dict[str, Any]]]) -> None:
    """Send committed notifications in one trip to the channel layer, within
    ``CHANNEL_SEND_TIMEOUT`` seconds. A failure is logged, never raised: the rows are committed
    and a reconnecting client re-syncs from them."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for groups, event in notifications:
            for group in groups:
                try:
                    await layer.group_send(group, {"type": "broadcast", "event": event})
                except Exception:
                    log.warning(
                        "could not notify %s of %s", group, event.get("type"), exc_info=True
                    )

    async def bounded() -> None:
        try:
            await asyncio.wait_for(send_all(), settings.CHANNEL_SEND_TIMEOUT)
        except TimeoutError:
            log.warning(
                "the channel layer did not answer; %s notifications dropped", len(notifications)
            )

    async_to_sync(bounded)()


def group_send_bounded(group: str, event: dict[str, Any]) -> None:
    """Send one event now, raising when the channel layer fails or does not answer within
    ``CHANNEL_SEND_TIMEOUT`` seconds (for a caller with a fallback, such as a hot offer)."""
    layer = get_channel_layer()

    async def send() -> None:
        await asyncio.wait_for(
            layer.group_send(group, {"type": "broadcast", "event": event}),
            settings.CHANNEL_SEND_TIMEOUT,
        )

    async_to_sync(send)()


def message_created_on_commit(message: Message) -> None:
    """Tell the conversation's customer socket and the tenant's inbox of a new message, with
    the message itself: the whole inbox hears of every message, and one database read per
    socket per message would not scale. Every new message is announced through here."""
    notify_on_commit(
        [conversation_group(message.conversation_id), tenant_inbox_group(message.tenant_id)],
        {
            "type": "message.created",
            "conversationId": str(message.conversation_id),
            "messageId": message.pk,
            "message": {
                "id": message.pk,
                "conversationId": str(message.conversation_id),
                "role": message.role,
                "author": message.author,
                "text": message.text,
                "createdAt": message.created_at.isoformat(),
            },
        },
    )
