"""Who has the inbox open. Sockets count themselves in and out and beat every
HEARTBEAT_SECONDS; a person counts as online while a socket of theirs beat within
PRESENCE_TTL. Kept in the database so every ASGI process sees the same answer."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.models import (
    Membership,
    Tenant,
)
from handover.models import Presence

HEARTBEAT_SECONDS = 20
PRESENCE_TTL = dt.timedelta(seconds=50)


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


def online_agents(tenant: Tenant, *, now: dt.datetime | None = None):
    """The tenant's human agents with the inbox open now."""
    now = now or timezone.now()
    agent_ids = Membership.objects.filter(tenant=tenant, is_agent=True).values("user_id")
    return Presence.objects.filter(
        tenant=tenant, user_id__in=agent_ids, sockets__gt=0, last_seen__gte=now - PRESENCE_TTL
    )


def anyone_online(tenant: Tenant, *, now: dt.datetime | None = None) -> bool:
    return online_agents(tenant, now=now).exists()
