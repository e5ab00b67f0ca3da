"""Customer satisfaction (issue 19, point 5): when a conversation is resolved the chat widget
asks the customer for a rating from 1 to 5. One rating per conversation: a second one is
refused (``CsatAlreadyRated``), so each conversation counts once and a rating the dashboard
has shown does not change afterwards. Once rated, the customer may add a few words ("Tell us
more"), once: the team reads them beside the rating (the conversation's page, the inbox, the
dashboard's latest comments)."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from conversations.models import Conversation, State
from core.errors import Conflict, Invalid
from core.json_input import text_problem
from core.models import WebhookEventType
from core.webhooks import webhook_event
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
            rating = CsatRating.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                score=score,
                person_id=person_id,
            )
            webhook_event(
                conversation.tenant_id,
                WebhookEventType.CSAT_RATED,
                lambda: {
                    "conversationId": str(conversation.pk),
                    "score": score,
                    "ratedAt": rating.created_at,
                },
                conversation_id=conversation.pk,
            )
            return rating
    except IntegrityError:
        raise CsatAlreadyRated("This conversation has been rated already.") from None


COMMENT_MAX = 1000


class CsatCommented(Conflict):
    """The rating has its comment already, or there is no rating to comment."""


def csat_comment(*, conversation: Conversation, comment: object) -> CsatRating:
    """Add the customer's words to their rating of ``conversation`` (the caller checked it is
    theirs): text of 1 to ``COMMENT_MAX`` characters (Invalid naming ``comment``), once (one
    conditional UPDATE: two at once keep one, the other is a CsatCommented)."""
    if not isinstance(comment, str) or not comment.strip():
        raise Invalid(fields={"comment": "is required"})
    comment = comment.strip()
    if len(comment) > COMMENT_MAX:
        raise Invalid(fields={"comment": f"must be at most {COMMENT_MAX} characters"})
    if problem := text_problem(comment):
        raise Invalid(fields={"comment": problem})
    rated = CsatRating.objects.filter(conversation=conversation)
    if not rated.filter(comment="").update(comment=comment):
        if rated.exists():
            raise CsatCommented("You have added your comment already. Thank you!")
        raise CsatCommented("Rate the conversation first.")
    return rated.get()
