"""Who has the inbox open. Sockets count themselves in and out and beat every
HEARTBEAT_SECONDS; a person counts as online while a socket of theirs beat within
PRESENCE_TTL. Kept in the database so every ASGI process sees the same answer.

``presence_changed`` tells the tenant's inboxes who is online, through the events door
(``core.events.notify_now``), once per coalescing window: 500 agents connecting at once make a
few broadcasts of the whole list, not 500 x 500 messages.

A human agent online is *available* (gets live offers) when their status is ``online`` (not
away or busy) and they hold fewer conversations than their limit (``AgentSetting``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from typing import Any

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.socket_threads import socket_db
from conversations.models import Conversation, State
from core.events import notify_now, tenant_inbox_group
from core.models import (
    Membership,
    Tenant,
)
from handover.groups import members_of
from handover.models import DEFAULT_MAX_CONVERSATIONS, AgentSetting, AgentStatus, Presence

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20
PRESENCE_TTL = dt.timedelta(seconds=50)
# Presence changes within this window are told in one broadcast per process and tenant.
PRESENCE_COALESCE_SECONDS = 0.25
# Per event loop (one per ASGI process in production; tests make one per test): tenant id -> the
# broadcast already scheduled. Only a debounce; who is online is always read from the database.
_pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Task]]
_pending = weakref.WeakKeyDictionary()
_tasks: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks


def presence_join(*, user, tenant: Tenant) -> None:
    with transaction.atomic():
        row, created = Presence.objects.select_for_update().get_or_create(
            user=user, defaults={"tenant": tenant, "sockets": 1, "last_seen": timezone.now()}
        )
        if not created:
            stale = row.last_seen < timezone.now() - PRESENCE_TTL
            row.sockets = 1 if stale else row.sockets + 1
            row.tenant = tenant
            row.last_seen = timezone.now()
            row.save()


def presence_beat(*, user) -> None:
    Presence.objects.filter(user=user).update(last_seen=timezone.now())


def presence_leave(*, user) -> None:
    Presence.objects.filter(user=user, sockets__gt=0).update(sockets=F("sockets") - 1)


def online_agents(tenant: Tenant, *, now: dt.datetime | None = None, group_id: Any = None):
    """The tenant's human agents with the inbox open now (``group_id``: of that group only)."""
    now = now or timezone.now()
    agent_ids = Membership.objects.filter(tenant=tenant, is_agent=True).values("user_id")
    online = Presence.objects.filter(
        tenant=tenant, user_id__in=agent_ids, sockets__gt=0, last_seen__gte=now - PRESENCE_TTL
    )
    return online.filter(user_id__in=members_of(group_id)) if group_id else online


def anyone_online(tenant: Tenant, *, now: dt.datetime | None = None, group_id: Any = None) -> bool:
    return online_agents(tenant, now=now, group_id=group_id).exists()


def held_count(user_id) -> int:
    """The conversations a person holds now (claimed, with a human)."""
    return Conversation.objects.filter(assignee_id=user_id, state=State.WITH_HUMAN).count()


def _held(user_ref):
    return Coalesce(
        Subquery(
            Conversation.objects.filter(assignee_id=user_ref, state=State.WITH_HUMAN)
            .values("assignee_id")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _limit(user_ref):
    return Coalesce(
        Subquery(
            AgentSetting.objects.filter(user_id=user_ref).values("max_conversations")[:1],
            output_field=IntegerField(),
        ),
        Value(DEFAULT_MAX_CONVERSATIONS),
    )


def available_agents(tenant: Tenant, *, now: dt.datetime | None = None, group_id: Any = None):
    """The human agents who get live offers now: online, status online, under their limit
    (``group_id``: of that group only, ``handover.groups``). One query, however many agents."""
    return (
        online_agents(tenant, now=now, group_id=group_id)
        .exclude(Q(user__agent_setting__status__in=[AgentStatus.AWAY, AgentStatus.BUSY]))
        .annotate(held=_held(OuterRef("user_id")), limit=_limit(OuterRef("user_id")))
        .filter(held__lt=F("limit"))
    )


def is_available(user, tenant: Tenant) -> bool:
    return available_agents(tenant).filter(user_id=user.pk).exists()


def agent_statuses(tenant: Tenant) -> dict[str, str]:
    """username -> status, for the online agents that set one (others are online)."""
    rows = AgentSetting.objects.filter(tenant=tenant).values_list("user__username", "status")
    return dict(rows)


def online_names(tenant: Tenant) -> list[str]:
    """The usernames of the tenant's agents online now, as the ``presence`` event lists them."""
    return sorted(p.user.get_username() for p in online_agents(tenant).select_related("user"))


async def presence_changed(tenant: Tenant) -> None:
    """Tell the tenant's inboxes who is online, once for every change in the coalescing
    window. A change made before the broadcast reads the list is in it; a later one schedules
    the next broadcast."""
    pending = _pending.setdefault(asyncio.get_running_loop(), {})
    if tenant.pk in pending:
        return
    task = asyncio.ensure_future(_broadcast_later(tenant, pending))
    pending[tenant.pk] = task
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _broadcast_later(tenant: Tenant, pending: dict[int, asyncio.Task]) -> None:
    await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
    pending.pop(tenant.pk, None)  # before the read: a change after this schedules its own
    try:
        online = await socket_db(online_names)(tenant)
    except Exception:  # the next change or a resync tells it again
        log.warning("presence could not be read", exc_info=True)
        return
    try:
        statuses = await socket_db(agent_statuses)(tenant)
    except Exception:
        log.warning("statuses could not be read", exc_info=True)
        return
    await notify_now(
        [tenant_inbox_group(tenant.pk)],
        {"type": "presence", "online": online, "statuses": statuses},
    )
