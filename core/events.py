"""The events door: socket notifications leave here, after the transaction commits.

``notify_on_commit`` sends a small event to channel-layer groups once the transaction commits
(never inside it), so a socket never hears of a row that was rolled back. Consumers re-read what
they show. ``notifications_buffered`` gathers a block's notifications into one trip.
``notify_now`` is the same door for async code outside any transaction (presence), and
``group_send_bounded`` for a caller with a fallback when the layer fails (a hot offer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from config.channel_layer import BatchingRedisChannelLayer, run_sync
from core.observability import metrics

log = logging.getLogger(__name__)

_outbox: ContextVar[list[tuple[list[str], dict[str, Any]]] | None] = ContextVar(
    "notifications", default=None
)


@contextmanager
def notifications_buffered() -> Iterator[None]:
    """Send the notifications of the block together, in one trip after commit. Use inside the
    transaction."""
    token = _outbox.set([])
    try:
        yield
        notifications = _outbox.get()
        if notifications:
            transaction.on_commit(lambda: _send(notifications))
    finally:
        _outbox.reset(token)


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


def conversation_watchers_group(conversation_id) -> str:
    """The inbox sockets that have a conversation open (``conversation.watch``): who hears
    that the AI or the customer is typing in it. Every other inbox is spared those events."""
    return f"conversation.{conversation_id}.watchers"


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
    """Send committed notifications in one trip to the channel layer (``_send_async``)."""
    _run(lambda: _send_async(notifications))


def _run(make: Callable[[], Awaitable[None]]) -> None:
    """Run a send from sync code: on Redis, on the process's one channel-layer loop, so its
    connections outlive the call (config/channel_layer.py); in memory, through
    ``async_to_sync``, on the server's loop that the sockets' queues belong to."""
    if isinstance(get_channel_layer(), BatchingRedisChannelLayer):
        run_sync(make)
        return

    async def call() -> None:
        await make()

    async_to_sync(call)()


async def notify_now(groups: list[str], event: dict[str, Any]) -> None:
    """Send ``event`` to ``groups`` now, from async code that holds no transaction (a socket
    telling who is online); bounded and never raising, as the notifications after commit."""
    await _send_async([(groups, event)])


async def _send_async(notifications: list[tuple[list[str], dict[str, Any]]]) -> None:
    """Send notifications in one trip to the channel layer, within ``CHANNEL_SEND_TIMEOUT``
    seconds. A failure is logged, never raised: the rows are committed and a reconnecting
    client re-syncs from them."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        if isinstance(layer, BatchingRedisChannelLayer):
            sends = [
                (group, {"type": "broadcast", "event": event})
                for groups, event in notifications
                for group in groups
            ]
            try:
                await layer.group_send_many(sends)
                outcome = "sent"
            except Exception:
                outcome = "failed"
                log.warning("could not notify %s events", len(sends), exc_info=True)
            for _ in sends:
                metrics.channel_sent(outcome)
            return
        for groups, event in notifications:
            for group in groups:
                try:
                    await layer.group_send(group, {"type": "broadcast", "event": event})
                    metrics.channel_sent("sent")
                except Exception:
                    metrics.channel_sent("failed")
                    log.warning(
                        "could not notify %s of %s", group, event.get("type"), exc_info=True
                    )

    try:
        await asyncio.wait_for(send_all(), settings.CHANNEL_SEND_TIMEOUT)
    except TimeoutError:
        metrics.channel_sent("timed_out")
        log.warning(
            "the channel layer did not answer; %s notifications dropped", len(notifications)
        )


def group_send_bounded(group: str, event: dict[str, Any]) -> None:
    """Send one event now, raising when the channel layer fails or does not answer within
    ``CHANNEL_SEND_TIMEOUT`` seconds (for a caller with a fallback, such as a hot offer)."""
    layer = get_channel_layer()

    async def send() -> None:
        await asyncio.wait_for(
            layer.group_send(group, {"type": "broadcast", "event": event}),
            settings.CHANNEL_SEND_TIMEOUT,
        )

    if isinstance(layer, BatchingRedisChannelLayer):
        run_sync(send)
    else:
        async_to_sync(send)()
