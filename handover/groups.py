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
  says who is asked first, not who may help;
- with ``overflow_after`` set, a handoff nobody of the group took within that many minutes in
  the queue is opened to everyone (``Handoff.overflowed_at``; ``handover.overflow``), and with
  0 a live offer nobody of the group is available for rings for everyone at once. The handoff
  keeps its group, for the history and the figures.

No group takes the conversation (its AI agent is in none, or the group has no member yet):
everyone, as before groups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet

from agents.models import Agent
from conversations.models import Conversation
from core.errors import Invalid
from core.json_input import text_problem
from core.models.tenants import MIDNIGHT
from handover.models import OVERFLOW_AFTER_MAX, GroupHours, PeopleGroup


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


def own_hours(group: PeopleGroup | None) -> QuerySet | None:
    """The group's own opening intervals (``GroupHours``), or None when it keeps the tenant's
    business hours (no group, or a group with none)."""
    if group is None:
        return None
    hours = GroupHours.objects.filter(group=group)
    return hours if hours.exists() else None


def members_of(group_id: Any) -> QuerySet:
    """The user ids of the group's members, as a subquery."""
    return PeopleGroup.members.through.objects.filter(peoplegroup_id=group_id).values("user_id")


def asked_group_id(handoff) -> Any:
    """The group a handoff asks first now: its group, until it was opened to everyone
    (``overflowed_at``); None: everyone."""
    return None if handoff.overflowed_at is not None else handoff.group_id


def for_person(user) -> Q:
    """The handoffs whose offers may ring for this person: of no group, of one of theirs, or
    opened to everyone."""
    return Q(group__isnull=True) | Q(group__members=user) | Q(overflowed_at__isnull=False)


# --- making and changing groups (the admin's form and /api/v1/groups) ---------------------------

NAME_MAX = 100


def ai_agent_taken(agent_ids: Any, *, besides: Any = None) -> Any:
    """The first of these AI agents another group takes already (an AI agent's handoffs go
    to one group), as its group row, or None."""
    return (
        PeopleGroup.ai_agents.through.objects.filter(agent_id__in=agent_ids)
        .exclude(peoplegroup_id=besides)
        .select_related("agent", "peoplegroup")
        .first()
    )


def ai_agent_taken_text(taken: Any) -> str:
    return (
        f"{taken.agent.name}'s handoffs go to the group {taken.peoplegroup.name} already: an "
        "AI agent's go to one group."
    )


@transaction.atomic
def group_save(
    *, tenant_id: int, data: dict[str, Any], group: PeopleGroup | None = None
) -> PeopleGroup:
    """Make (``group`` None) or change a group from ``{"name", "members": [usernames],
    "aiAgents": [slugs], "overflowAfter": minutes or null, "hours": [{"weekday", "opens",
    "closes"}]}`` (a change keeps what it does not name; a list replaces the one it had).
    Invalid naming the field: a name taken or not 1 to 100 characters, someone who is no human
    agent of the tenant, an AI agent of another tenant or taken by another group, minutes that
    are not a whole number from 0 to a week, an interval that is not a weekday 0-6 with "HH:MM"
    times, opening before closing (closing "00:00": midnight)."""
    unknown = sorted(set(data) - {"name", "members", "aiAgents", "overflowAfter", "hours"})
    if unknown:
        raise Invalid(fields={unknown[0]: "is not a field of a group"})
    fields: dict[str, Any] = {}
    if "name" in data or group is None:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            raise Invalid(fields={"name": f"must be 1 to {NAME_MAX} characters"})
        if text_problem(name):
            raise Invalid(fields={"name": text_problem(name)})
        name = name.strip()
        taken = PeopleGroup.objects.filter(tenant_id=tenant_id, name=name)
        if taken.exclude(pk=getattr(group, "pk", None)).exists():
            raise Invalid(fields={"name": "the team has a group of this name already"})
        fields["name"] = name
    if "overflowAfter" in data:
        minutes = data["overflowAfter"]
        if minutes is not None and (
            isinstance(minutes, bool)
            or not isinstance(minutes, int)
            or not 0 <= minutes <= OVERFLOW_AFTER_MAX
        ):
            words = f"must be null or whole minutes, 0 to {OVERFLOW_AFTER_MAX}"
            raise Invalid(fields={"overflowAfter": words})
        fields["overflow_after"] = minutes
    members = _named(
        data,
        "members",
        get_user_model().objects.filter(membership__tenant_id=tenant_id, membership__is_agent=True),
        "username",
        "a human agent of this team",
    )
    agents = _named(
        data,
        "aiAgents",
        Agent.objects.filter(tenant_id=tenant_id),
        "slug",
        "an AI agent of this team",
    )
    hours = _hours(data["hours"]) if "hours" in data else None
    if agents:
        taken_by = ai_agent_taken([a.pk for a in agents], besides=getattr(group, "pk", None))
        if taken_by is not None:
            raise Invalid(fields={"aiAgents": ai_agent_taken_text(taken_by)})
    if group is None:
        group = PeopleGroup.objects.create(tenant_id=tenant_id, **fields)
    elif fields:
        for key, value in fields.items():
            setattr(group, key, value)
        group.save(update_fields=list(fields))
    if members is not None:
        group.members.set(members)
    if agents is not None:
        group.ai_agents.set(agents)
    if hours is not None:
        GroupHours.objects.filter(group=group).delete()
        GroupHours.objects.bulk_create(
            GroupHours(tenant_id=tenant_id, group=group, weekday=w, opens=o, closes=c)
            for w, o, c in hours
        )
    return group


HOURS_MAX = 50  # opening intervals of a group: seven days of split shifts, and more


def _hours(value: Any) -> list[tuple[int, dt.time, dt.time]]:
    """A group's hours from ``[{"weekday": 0-6, "opens": "HH:MM", "closes": "HH:MM"}]``;
    Invalid naming ``hours``."""
    if not isinstance(value, list) or len(value) > HOURS_MAX:
        raise Invalid(fields={"hours": f"must be a list of at most {HOURS_MAX} intervals"})
    hours = []
    for n, item in enumerate(value):
        weekday = item.get("weekday") if isinstance(item, dict) else None
        if not isinstance(item, dict) or set(item) != {"weekday", "opens", "closes"}:
            raise Invalid(fields={"hours": f"interval {n + 1} must be {{weekday, opens, closes}}"})
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise Invalid(fields={"hours": f"interval {n + 1}: weekday must be 0 (Monday) to 6"})
        opens, closes = _clock(item["opens"], n), _clock(item["closes"], n)
        if not (opens < closes or closes == MIDNIGHT):
            raise Invalid(fields={"hours": f"interval {n + 1}: it must open before it closes"})
        hours.append((weekday, opens, closes))
    return hours


def _clock(value: Any, n: int) -> dt.time:
    """ "09:30" as a time; Invalid naming ``hours``."""
    try:
        if not isinstance(value, str) or len(value) != 5:
            raise ValueError
        return dt.time.fromisoformat(value)
    except ValueError:
        raise Invalid(fields={"hours": f"interval {n + 1}: times are HH:MM"}) from None


def _named(data: dict[str, Any], field: str, rows: QuerySet, key: str, what: str) -> list | None:
    """The rows a list of names in ``data[field]`` names (None when it names none), each one
    ``what`` (Invalid naming ``field`` otherwise)."""
    if field not in data:
        return None
    names = data[field]
    if (
        not isinstance(names, list)
        or len(names) > 500
        or not all(isinstance(n, str) for n in names)
    ):
        raise Invalid(fields={field: "must be a list of names"})
    found = {getattr(row, key): row for row in rows.filter(**{f"{key}__in": names})}
    missing = [n for n in names if n not in found]
    if missing:
        raise Invalid(fields={field: f"{missing[0]!r} is not {what}"})
    return [found[n] for n in dict.fromkeys(names)]


def group_json(group: PeopleGroup) -> dict[str, Any]:
    return {
        "id": group.pk,
        "name": group.name,
        "members": sorted(u.get_username() for u in group.members.all()),
        "aiAgents": sorted(a.slug for a in group.ai_agents.all()),
        "overflowAfter": group.overflow_after,
        # its own hours; empty: the team's business hours
        "hours": [
            {"weekday": h.weekday, "opens": f"{h.opens:%H:%M}", "closes": f"{h.closes:%H:%M}"}
            for h in group.hours.all()
        ],
    }


def overflow_text(minutes: int | None) -> str:
    """A group's ``overflow_after`` in words, as the admin and the team view show it."""
    if minutes is None:
        return "never"
    if minutes == 0:
        return "at once, when nobody of it is available"
    return f"after {minutes} min in the queue"
