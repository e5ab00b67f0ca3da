"""Snooze: the person holding a conversation puts it aside until a time ("tomorrow at 9"), or
until the customer writes, whichever comes first. It stays theirs (and counts towards their
limit): their inbox lists it apart as snoozed, and it comes back by itself when the time comes
(a snooze is only a time: nothing needs waking) or at once when the customer writes (the
customer's message clears it, in the message's own transaction). While it is on, the
handoff's resolution target is paused (``handover.targets``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation
from core.dates import DateRefused, parse_moment
from core.errors import Invalid
from core.events import notify_on_commit, tenant_inbox_group
from handover.models import Handoff, Status
from handover.services import NotTheClaimer, claimed_conversation
from handover.targets import pause_ended

SNOOZE_MAX = dt.timedelta(days=30)


def _until(value: Any, now: dt.datetime) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(fields={"until": "must be a date-time (ISO 8601) or null"})
    try:
        until = parse_moment(value, timezone.get_current_timezone())
    except DateRefused as exc:
        raise Invalid(fields={"until": str(exc)}) from None
    if until <= now:
        raise Invalid(fields={"until": "must be in the future"})
    if until > now + SNOOZE_MAX:
        raise Invalid(fields={"until": f"must be within {SNOOZE_MAX.days} days"})
    return until


@transaction.atomic
def handoff_snooze(*, handoff: Handoff, user, until: Any) -> Handoff:
    """The claimer snoozes the conversation until ``until`` (an ISO 8601 date-time, within
    30 days), or wakes it (``None``). Only the person who holds it (409 otherwise)."""
    now = timezone.now()
    moment = _until(until, now)
    claimed_conversation(handoff.conversation, user)  # locks it; only its holder
    claimed = Handoff.objects.filter(pk=handoff.pk, status=Status.CLAIMED, claimed_by=user)
    # the snooze on before (if any) ends here; the new one holds the resolution target from now
    fields = {**pause_ended(now), "snoozed_until": moment, "snoozed_at": now if moment else None}
    if not claimed.update(**fields):
        raise NotTheClaimer("only the person who claimed the conversation can do this")
    handoff.refresh_from_db()
    _tell(handoff, moment, woke="person" if moment is None else None)
    return handoff


def snooze_ends_on_customer_message(conversation: Conversation) -> None:
    """Inside the customer's message's transaction, on a conversation with a person: a snooze
    ends (one UPDATE, which changes nothing when none was on)."""
    now = timezone.now()
    woken = Handoff.objects.filter(
        conversation_id=conversation.pk, status=Status.CLAIMED, snoozed_until__gt=now
    ).update(snoozed_until=None, **pause_ended(now))
    if woken:
        _tell(
            Handoff(tenant_id=conversation.tenant_id, conversation_id=conversation.pk),
            None,
            woke="customer",
        )


def _tell(handoff: Handoff, until: dt.datetime | None, *, woke: str | None) -> None:
    event: dict[str, Any] = {
        "type": "handoff.snoozed",
        "handoffId": handoff.pk,  # None when the customer woke it: its conversation says
        "conversationId": str(handoff.conversation_id),
        "snoozedUntil": until.isoformat() if until else None,
    }
    if woke:
        event["woke"] = woke  # "customer": they wrote; "person": its holder woke it
    notify_on_commit([tenant_inbox_group(handoff.tenant_id)], event)
