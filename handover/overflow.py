"""A group's queue opened to everyone (``PeopleGroup.overflow_after``; Zendesk's and Intercom's
overflow): a handoff that waited in the queue that many minutes without anybody of its group
taking it is opened to every human agent (``handoff_overflow``): the queue's "only my groups"
shows it to all, and where the tenant gives its queue out it is given to anyone available. The
sweep runs every 30 s (``config.celery``); each handoff is opened once, by a conditional UPDATE,
however many sweeps meet."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from handover.models import Handoff, PeopleGroup, Status
from handover.services import handoff_overflow

log = logging.getLogger(__name__)

TASK_NAME = "handover.overflow_groups"
BATCH = 200  # handoffs opened in one run of a group at the most (the next run goes on)


def groups_overflow(*, now: dt.datetime | None = None) -> int:
    """Open to everyone the queued handoffs of every group with an ``overflow_after`` that
    waited longer than it. Returns how many were opened."""
    now = now or timezone.now()
    opened = 0
    groups = PeopleGroup.objects.filter(overflow_after__gt=0).values_list(
        "pk", "name", "overflow_after"
    )
    for group_id, name, minutes in groups:
        due = (
            Handoff.objects.filter(
                group_id=group_id,
                status=Status.QUEUED,
                overflowed_at__isnull=True,
                queued_at__lte=now - dt.timedelta(minutes=minutes),
            )
            .select_related("conversation", "group")
            .order_by("queued_at", "pk")[:BATCH]
        )
        for handoff in due:
            why = f"nobody of the group {name} took it within {minutes} min"
            opened += handoff_overflow(handoff, why=why)
    if opened:
        log.info("opened %s handoff(s) of groups to everyone", opened)
    return opened
