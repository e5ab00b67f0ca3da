"""Many conversations at once from the history (Zendesk's bulk update, Chatwoot's bulk actions):
a manager ticks the conversations a search found (a spam wave, a carrier's late parcels) and
resolves them, puts a tag on them or takes one off, or gives the ones waiting for a person to a
human agent (the backlog shared out: each is claimed for them, within their limit).

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
from conversations.models import Conversation, State
from conversations.selectors import conversation_locked
from conversations.tags import conversation_tag, conversation_untag, tag_name
from core.errors import Invalid
from core.json_input import uuid_text
from handover.assignment import handoff_give_as
from handover.models import Handoff, Status
from handover.services import AtCapacity, HandoffUnavailable, conversation_close, tenant_agent

BULK_MAX = 100  # conversations one action takes: the history's page is 25, four pages
ACTIONS = ("resolve", "tag", "untag", "assign")


@dataclass
class BulkOutcome:
    """What was done: the conversations' ids, and those left alone with why."""

    done: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)


def conversations_bulk(
    *,
    reachable: QuerySet,
    by: str,
    user=None,
    ids: Any,
    action: Any,
    tag: Any = None,
    to: Any = None,
    tenant_id: int | None = None,
) -> BulkOutcome:
    """Resolve, tag with ``tag``, take ``tag`` off, or give to the human agent ``to`` (a
    username of ``tenant_id``'s) the conversations ``ids`` among ``reachable`` (the caller's,
    in their tenant), for ``by`` (a manager's username, an integration's name; ``user``: the
    person, None for an integration). Invalid naming ``ids``, ``action``, ``tag`` or ``to``
    before anything is done; an id the caller does not reach is left alone as not found, as
    one that cannot take the action now."""
    if action not in ACTIONS:
        raise Invalid(fields={"action": f"must be one of {', '.join(ACTIONS)}"})
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise Invalid(fields={"ids": "must be a list of conversations' ids"})
    if len(ids) > BULK_MAX:
        raise Invalid(fields={"ids": f"at most {BULK_MAX} conversations at once"})
    wanted = list(dict.fromkeys(uuid_text(i) for i in ids))
    if "" in wanted:
        raise Invalid(fields={"ids": "must be a list of conversations' ids"})
    name = tag_name(tag) if action in ("tag", "untag") else ""
    person = tenant_agent(tenant_id, to) if action == "assign" and tenant_id else None
    if action == "assign" and person is None:
        raise Invalid(fields={"to": "no human agent of this team has that username"})
    giver = (user.get_full_name() or user.get_username()) if user is not None else by
    found = {str(pk) for pk in reachable.filter(pk__in=wanted).values_list("pk", flat=True)}
    outcome = BulkOutcome()
    for conversation_id in wanted:
        if conversation_id not in found:
            outcome.left[conversation_id] = "not found"
            continue
        if action == "resolve":
            why = _resolved(conversation_id, by, len(found))
        elif action == "assign":
            why = _given(conversation_id, person, giver)
        else:
            why = _tagged(conversation_id, user, name, off=action == "untag")
        if why is None:
            outcome.done.append(conversation_id)
        else:
            outcome.left[conversation_id] = why
    return outcome


def _open_locked(conversation_id: str) -> tuple[Conversation | None, str | None]:
    """The conversation, locked for the caller's transaction, or why no action takes it."""
    locked = conversation_locked(conversation_id)
    if locked is None:
        return None, "not found"
    if locked.state == State.RESOLVED:
        return None, "resolved already"
    return locked, None


def _resolved(conversation_id: str, by: str, together: int) -> str | None:
    """Resolve one conversation; why not, or None."""
    try:
        with transaction.atomic():
            locked, why = _open_locked(conversation_id)
            if locked is None:
                return why
            holder = locked.assignee if locked.state == State.WITH_HUMAN else None
            conversation_close(
                locked,
                reason=f"resolved by {by} ({together} at once)",
                holder=holder,
            )
    except lifecycle.ConcurrentChange:
        return "it changed meanwhile"
    return None


def _tagged(conversation_id: str, user, name: str, *, off: bool = False) -> str | None:
    """Tag one conversation (``off``: take the tag off); why not, or None."""
    with transaction.atomic():
        locked = conversation_locked(conversation_id)
        if locked is None:
            return "not found"
        if off:
            if not locked.tags.filter(name=name).exists():
                return "not tagged so"
            conversation_untag(conversation=locked, name=name)
            return None
        try:
            conversation_tag(conversation=locked, name=name, user=user)
        except Invalid as exc:
            why = next(iter(exc.fields.values()), str(exc))
            return why[0] if isinstance(why, list) else str(why)
    return None


def _given(conversation_id: str, person, by: str) -> str | None:
    """Give one conversation waiting for a person to ``person``; why not, or None. Their limit
    refused rolls the claim back (the exception leaves the transaction)."""
    try:
        with transaction.atomic():
            locked, why = _open_locked(conversation_id)
            if locked is None:
                return why
            if locked.state == State.WITH_HUMAN:
                if locked.assignee_id == person.pk:
                    return "theirs already"
                return "someone holds it"
            handoff = (
                Handoff.objects.filter(
                    conversation_id=locked.pk, status__in=[Status.OFFERED, Status.QUEUED]
                )
                .order_by("-id")
                .first()
            )
            if handoff is None:
                return "not waiting for a person"
            handoff_give_as(handoff=handoff, person=person, by=by)
    except AtCapacity:
        return "at their limit"
    except HandoffUnavailable:
        return "it changed meanwhile"
    return None
