"""Many conversations at once from the history (Zendesk's bulk update, Chatwoot's bulk actions):
a manager ticks the conversations a search found (a spam wave, a carrier's late parcels) and
resolves them, or puts a tag on them.

Each conversation is done in a short transaction of its own, under its row lock, so one that
moved meanwhile (resolved already, a tag too many) is told apart with why and the others are
done; nothing waits on a hundred locks at once. A conversation resolved here closes as a
person's resolve does: its handoff closes, its holder's seat frees, the inboxes hear it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from conversations import lifecycle
from conversations.models import State
from conversations.selectors import conversation_locked
from conversations.tags import conversation_tag, tag_name
from core.errors import Invalid
from core.json_input import uuid_text
from handover.services import conversation_close

BULK_MAX = 100  # conversations one action takes: the history's page is 25, four pages
ACTIONS = ("resolve", "tag")


@dataclass
class BulkOutcome:
    """What was done: the conversations' ids, and those left alone with why."""

    done: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)


def conversations_bulk(
    *, reachable: QuerySet, by: str, user=None, ids: Any, action: Any, tag: Any = None
) -> BulkOutcome:
    """Resolve, or tag with ``tag``, the conversations ``ids`` among ``reachable`` (the caller's,
    in their tenant), for ``by`` (a manager's username, an integration's name; ``user``: the
    person, None for an integration). Invalid naming ``ids``, ``action`` or ``tag`` before
    anything is done; an id the caller does not reach is left alone as not found, as one that
    cannot take the action now."""
    if action not in ACTIONS:
        raise Invalid(fields={"action": f"must be one of {', '.join(ACTIONS)}"})
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise Invalid(fields={"ids": "must be a list of conversations' ids"})
    if len(ids) > BULK_MAX:
        raise Invalid(fields={"ids": f"at most {BULK_MAX} conversations at once"})
    wanted = list(dict.fromkeys(uuid_text(i) for i in ids))
    if "" in wanted:
        raise Invalid(fields={"ids": "must be a list of conversations' ids"})
    name = tag_name(tag) if action == "tag" else ""
    found = {str(pk) for pk in reachable.filter(pk__in=wanted).values_list("pk", flat=True)}
    outcome = BulkOutcome()
    for conversation_id in wanted:
        if conversation_id not in found:
            outcome.left[conversation_id] = "not found"
            continue
        why = (
            _resolved(conversation_id, by, len(found))
            if action == "resolve"
            else _tagged(conversation_id, user, name)
        )
        if why is None:
            outcome.done.append(conversation_id)
        else:
            outcome.left[conversation_id] = why
    return outcome


def _resolved(conversation_id: str, by: str, together: int) -> str | None:
    """Resolve one conversation; why not, or None."""
    try:
        with transaction.atomic():
            locked = conversation_locked(conversation_id)
            if locked is None:
                return "not found"
            if locked.state == State.RESOLVED:
                return "resolved already"
            holder = locked.assignee if locked.state == State.WITH_HUMAN else None
            conversation_close(
                locked,
                reason=f"resolved by {by} ({together} at once)",
                holder=holder,
            )
    except lifecycle.ConcurrentChange:
        return "it changed meanwhile"
    return None


def _tagged(conversation_id: str, user, name: str) -> str | None:
    """Tag one conversation; why not, or None."""
    with transaction.atomic():
        locked = conversation_locked(conversation_id)
        if locked is None:
            return "not found"
        try:
            conversation_tag(conversation=locked, name=name, user=user)
        except Invalid as exc:
            why = next(iter(exc.fields.values()), str(exc))
            return why[0] if isinstance(why, list) else str(why)
    return None
