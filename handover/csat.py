"""Customer satisfaction (issue 19, point 5): when a conversation is resolved the chat widget
asks the customer for a rating from 1 to 5. One rating per conversation: a second one is
refused (``CsatAlreadyRated``), so each conversation counts once and a rating the dashboard
has shown does not change afterwards."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from conversations.models import Conversation, State
from handover.models import CsatRating, Handoff

SCORES = range(1, 6)


class CsatNotYet(Exception):
    """The conversation is not resolved: there is nothing to rate yet."""


class CsatAlreadyRated(Exception):
    """The conversation already has its rating."""


def csat_record(*, conversation: Conversation, score: int) -> CsatRating:
    """Keep the customer's rating of a resolved conversation (the caller checked that it is
    theirs, and that ``score`` is 1 to 5). The rating belongs to the person who last had the
    conversation (none when the AI handled it alone)."""
    if score not in SCORES:
        raise ValueError("a rating is 1 to 5")
    if conversation.state != State.RESOLVED:
        raise CsatNotYet("The conversation is not resolved yet.")
    person_id = (
        Handoff.objects.filter(conversation=conversation, claimed_by__isnull=False)
        .order_by("-id")
        .values_list("claimed_by_id", flat=True)
        .first()
    )
    try:
        with transaction.atomic():
            return CsatRating.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                score=score,
                person_id=person_id,
            )
    except IntegrityError:
        raise CsatAlreadyRated("This conversation has been rated already.") from None
