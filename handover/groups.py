"""Groups of human agents (``PeopleGroup``; Zendesk's groups, Intercom's teams): a manager puts
the billing people in "Billing" and gives it the Billing AI agent; a conversation that agent
hands to people then goes to them.

The group is decided when the handoff opens (``handoff_group``: the group that takes the
conversation's current AI agent, if it has members) and kept on it (``Handoff.group``):

- its live offer rings for the group's available members only, and goes to the queue when none
  of them is available (``handoff_mode``, ``deliver_offer``);
- a seat that frees hears the open offers of the person's groups and those of no group;
- the queue given out by itself gives it to the group's members only;
- anyone may still claim it from the queue, and a manager gives it to whom they choose: a group
  says who is asked first, not who may help.

No group takes the conversation (its AI agent is in none, or the group has no member yet):
everyone, as before groups."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from conversations.models import Conversation
from handover.models import PeopleGroup


def handoff_group(conversation: Conversation) -> PeopleGroup | None:
    """The group that takes the conversation's handoffs now: the one with its current AI agent
    among its ``ai_agents`` and at least one member (one query)."""
    return (
        PeopleGroup.objects.filter(
            tenant_id=conversation.tenant_id,
            ai_agents=conversation.current_agent_id,
            members__isnull=False,
        )
        .order_by("name", "pk")
        .first()
    )


def members_of(group_id: Any) -> QuerySet:
    """The user ids of the group's members, as a subquery."""
    return PeopleGroup.members.through.objects.filter(peoplegroup_id=group_id).values("user_id")


def for_person(user) -> Q:
    """The handoffs whose offers may ring for this person: of no group, or of one of theirs."""
    return Q(group__isnull=True) | Q(group__members=user)
