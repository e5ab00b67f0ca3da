"""Giving conversations out.

A manager gives a waiting one to a human agent of their choice (``handoff_give``, the team
view). And where a tenant turns it on (``Tenant.assign_queue``), the queue is given out by
itself: each handoff waiting in the queue goes to an available human agent (online, not away or
busy, under their limit), the one who holds the fewest conversations (then by name), the
highest priority and oldest first. Either way it is the person's claim, made for them
(``handoff_claim``: decided in the database, so two runs at once, or a person claiming by hand
meanwhile, give each handoff to one person); they hear ``handoff.assigned`` on their own sockets.

The queue is given out by a task after a handoff is queued or a seat frees
(``assign_queue_soon``), and by a sweep every few seconds for what those miss (a person opening
their inbox).
"""

from __future__ import annotations

import logging
import threading

from django.db import transaction

from conversations.messages import message_post
from conversations.models import MessageRole
from core.events import notify_on_commit, person_group
from core.models import Tenant
from core.scoping import membership_of
from handover.groups import asked_group_id
from handover.models import Handoff, Status
from handover.presence import available_agents
from handover.services import (
    AtCapacity,
    HandoffUnavailable,
    NotAllowed,
    handoff_claim,
    tenant_agent,
)

log = logging.getLogger(__name__)

ASSIGN_ROUNDS_MAX = 100  # handoffs given out in one run at the most (the next run goes on)


# One run at a time in a process: the trigger and the sweep may meet on the in-process runner's
# threads, and SQLite (the embedded default) answers a second writer "database table is
# locked" where PostgreSQL makes it wait. Between processes the claims decide (one wins).
_one_run = threading.Lock()


def queue_assign(tenant_id: int) -> int:
    """Give the tenant's queue to its available agents; returns how many were given. Each
    claim is a transaction of its own; nothing is held between two."""
    with _one_run:
        return give_out(tenant_id)


def give_out(tenant_id: int) -> int:
    """``queue_assign``'s work, without the process's lock: two of these at once (two
    processes) still give each handoff to one person, as the claims decide."""
    tenant = Tenant.objects.filter(pk=tenant_id, assign_queue=True).first()
    if tenant is None:
        return 0
    given = 0
    waiting = list(
        Handoff.objects.filter(tenant_id=tenant_id, status=Status.QUEUED)
        .select_related("conversation")
        .order_by("-priority", "queued_at", "pk")[:ASSIGN_ROUNDS_MAX]
    )
    for handoff in waiting:
        # a group's handoff goes to its members only, until it is open to everyone
        # (handover.groups)
        asked = asked_group_id(handoff)
        seat = (
            available_agents(tenant, group_id=asked)
            .select_related("user")
            .order_by("held", "user__username")
            .first()
        )
        if seat is None:
            if asked is None:
                break  # nobody at all is available: the rest wait too
            continue  # nobody of its group: the next may be another group's
        try:
            handoff_claim(handoff=handoff, user=seat.user)
        except (HandoffUnavailable, AtCapacity):
            continue  # taken meanwhile, or the person filled up: the next round looks again
        _tell_assigned(handoff, seat.user_id)
        given += 1
    if given:
        log.info("gave %s queued handoff(s) out", given, extra={"tenant_id": tenant_id})
    return given


def queues_assign() -> int:
    """The sweep: every tenant that gives its queue out, once."""
    return sum(
        queue_assign(pk)
        for pk in Tenant.objects.filter(assign_queue=True).values_list("pk", flat=True)
    )


@transaction.atomic
def handoff_give(*, handoff: Handoff, manager, to_username: str) -> Handoff:
    """A manager gives a waiting handoff (offered or queued) to a human agent of the tenant, as
    if they had claimed it: decided by the claim (one wins; their limit holds, and its refusal
    names them). Online or not: they find it in their conversations when they open the inbox.
    The colleagues read who gave it in a private note; the person hears ``handoff.assigned``."""
    membership = membership_of(manager)
    if membership is None or membership.tenant_id != handoff.tenant_id or not membership.is_manager:
        raise NotAllowed("only the tenant's managers give conversations out")
    person = tenant_agent(handoff.tenant_id, to_username)
    return handoff_give_as(
        handoff=handoff, person=person, by=manager.get_full_name() or manager.get_username()
    )


def handoff_give_as(*, handoff: Handoff, person, by: str) -> Handoff:
    """``handoff_give`` once the door has checked who gives (a manager, or an integration for
    ``handover.bulk``): ``person`` (a human agent of the tenant, ``tenant_agent``) claims it,
    within their limit; the colleagues read that ``by`` gave it."""
    name = person.get_full_name() or person.get_username()
    handoff_claim(handoff=handoff, user=person, who=name)
    message_post(
        conversation=handoff.conversation,
        role=MessageRole.NOTE,
        author="system",
        text=f"{by} gave the conversation to {name}.",
    )
    _tell_assigned(handoff, person.pk, by=by)
    return handoff


def _tell_assigned(handoff: Handoff, user_id: int, *, by: str | None = None) -> None:
    """The person's own sockets hear that the handoff is theirs now (``by``: the manager who
    gave it; none when the queue was given out)."""
    event = {
        "type": "handoff.assigned",
        "handoffId": handoff.pk,
        "conversationId": str(handoff.conversation_id),
        "customer": handoff.conversation.customer_display,
    }
    if by is not None:
        event["by"] = by
    notify_on_commit([person_group(user_id)], event)
