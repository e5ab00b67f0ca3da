"""Who else has a conversation open in the inbox, and who is writing in it: what Zendesk calls
agent collision and Intercom shows as faces on the conversation. Two people reading the same
queued conversation, or a manager reading along while the holder answers, see each other.

Each inbox socket that has a conversation open (``conversation.watch``) is one ``Viewing`` row,
by its channel name, kept in the database so every ASGI process reads the same answer. Its
heartbeat keeps it fresh; one older than PRESENCE_TTL (a laptop closed, a process killed) no
longer counts, and ``sweep_viewers`` deletes it and tells the inboxes. Whenever a
conversation's viewers change, the tenant's inboxes hear ``conversation.viewers`` with the whole
list (so the queue's cards show who is on each); the inbox's snapshot carries every list.

A colleague's typing (a reply, or a private note) reaches only the sockets that watch the
conversation (``colleague.typing``), as the customer's typing does."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.events import (
    conversation_watchers_group,
    group_send_bounded,
    notify_on_commit,
    tenant_inbox_group,
)
from handover.models import Viewing
from handover.presence import PRESENCE_TTL

log = logging.getLogger(__name__)

TASK_NAME = "handover.sweep_viewers"


def viewing_set(*, tenant, user, channel_name: str, conversation_id) -> set[str]:
    """The socket ``channel_name`` now has ``conversation_id`` open (None: none). Returns the
    conversations whose viewers changed (the one it left, the one it opened)."""
    now = timezone.now()
    with transaction.atomic():
        left = (
            Viewing.objects.filter(channel_name=channel_name)
            .values_list("conversation_id", flat=True)
            .first()
        )
        if conversation_id is None:
            Viewing.objects.filter(channel_name=channel_name).delete()
        else:
            Viewing.objects.update_or_create(
                channel_name=channel_name,
                defaults={
                    "tenant": tenant,
                    "conversation_id": conversation_id,
                    "user": user,
                    "seen_at": now,
                },
            )
    return {str(c) for c in (left, conversation_id) if c is not None}


def viewing_beat(channel_name: str) -> None:
    """The socket is still there (its heartbeat): its viewing still counts."""
    Viewing.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


def viewers_of(tenant_id: int, conversation_ids: Iterable[Any] | None = None) -> dict[str, list]:
    """conversation id -> the people who have it open now, each once (``id``, ``username``
    and ``name``), by name. ``conversation_ids`` None: every conversation of the tenant (the
    inbox's snapshot). One query."""
    rows = Viewing.objects.filter(
        tenant_id=tenant_id, seen_at__gte=timezone.now() - PRESENCE_TTL
    ).select_related("user")
    if conversation_ids is not None:
        rows = rows.filter(conversation_id__in=list(conversation_ids))
    found: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        user = row.user
        username = user.get_username()
        name = user.get_full_name() or username
        found.setdefault(str(row.conversation_id), {})[username] = {
            "id": user.pk,
            "username": username,
            "name": name,
        }
    return {
        conversation: sorted(people.values(), key=lambda p: (p["name"].lower(), p["username"]))
        for conversation, people in found.items()
    }


def viewers_told(tenant_id: int, conversation_ids: Iterable[str]) -> dict[str, list]:
    """Tell the tenant's inboxes who has each of ``conversation_ids`` open now (after the
    transaction commits, when there is one); returns what was told (``viewers_of``'s map)."""
    ids = [str(c) for c in conversation_ids]
    if not ids:
        return {}
    now_viewing = viewers_of(tenant_id, ids)
    for conversation_id in ids:
        notify_on_commit(
            [tenant_inbox_group(tenant_id)],
            {
                "type": "conversation.viewers",
                "conversationId": conversation_id,
                "viewers": now_viewing.get(conversation_id, []),
            },
        )
    return now_viewing


def colleague_typing(*, conversation_id, user, note: bool) -> None:
    """Tell the sockets watching the conversation that ``user`` is writing in it: a reply, or
    (``note``) a private note. Dropped quietly when the channel layer fails: the next one may
    pass."""
    username = user.get_username()
    try:
        group_send_bounded(
            conversation_watchers_group(conversation_id),
            {
                "type": "colleague.typing",
                "conversationId": str(conversation_id),
                "id": user.pk,
                "username": username,
                "name": user.get_full_name() or username,
                "note": note,
            },
        )
    except Exception:
        log.info("typing indicator not delivered", exc_info=True)


def sweep_viewers() -> int:
    """Delete the viewings whose socket stopped beating (a closed laptop, a killed process)
    and tell the inboxes of those conversations. Returns how many were deleted."""
    stale = Viewing.objects.filter(seen_at__lt=timezone.now() - PRESENCE_TTL)
    gone = list(stale.values_list("pk", "tenant_id", "conversation_id")[:1000])
    if not gone:
        return 0
    deleted, _ = Viewing.objects.filter(
        pk__in=[pk for pk, _, _ in gone], seen_at__lt=timezone.now() - PRESENCE_TTL
    ).delete()
    by_tenant: dict[int, set[str]] = {}
    for _, tenant_id, conversation_id in gone:
        by_tenant.setdefault(tenant_id, set()).add(str(conversation_id))
    for tenant_id, conversations in by_tenant.items():
        viewers_told(tenant_id, conversations)
    return deleted
