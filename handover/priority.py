"""A person (or an integration) sets a handoff's priority, as Zendesk's, Chatwoot's and
Intercom's priority is set by hand: a VIP's message that the detectors scored medium, a
complaint the press picked up. The orchestrator scores a handoff when it is made
(``handover.services.priority_for``); the band a person chooses (urgent, high, medium, low)
replaces that score with the band's own, so the queue's order and the response targets (by
band, ``handover.targets``) follow at once.

Only an open handoff (offered, queued or claimed) takes a priority; the colleagues read who
changed it in a private note, and the inboxes hear ``handoff.prioritized``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents.orchestrator_settings import BANDS, LOWEST_BAND, PRIORITY_BANDS, priority_band
from conversations.messages import message_post
from conversations.models import MessageRole
from core.errors import Conflict, Invalid
from core.events import notify_on_commit, tenant_inbox_group
from handover.models import OPEN_STATUSES, Handoff

# a band's score: the lowest of the band (a band set by hand sorts as its band's floor)
BAND_SCORE: dict[str, int] = {**dict(PRIORITY_BANDS), LOWEST_BAND: 0}


class HandoffClosed(Conflict):
    """The handoff is resolved or expired: its priority no longer counts (409)."""


@transaction.atomic
def handoff_prioritize(*, handoff: Handoff, band: Any, by: str) -> Handoff:
    """Set ``handoff``'s priority to ``band`` (urgent, high, medium or low; Invalid naming
    ``priority`` otherwise). ``by``: who, in words, for the note. The same band again changes
    nothing."""
    if not isinstance(band, str) or band not in BAND_SCORE:
        raise Invalid(fields={"priority": f"must be one of {', '.join(BANDS)}"})
    locked = (
        Handoff.objects.select_for_update()
        .filter(pk=handoff.pk, tenant_id=handoff.tenant_id, status__in=OPEN_STATUSES)
        .first()
    )
    if locked is None:
        raise HandoffClosed("this handoff is closed: its priority no longer counts")
    before = priority_band(locked.priority)
    if before == band:
        return locked
    locked.priority = BAND_SCORE[band]
    locked.save(update_fields=["priority"])
    message_post(
        conversation=locked.conversation,
        role=MessageRole.NOTE,
        author="system",
        text=f"{by} set the priority to {band} (it was {before}).",
    )
    notify_on_commit(
        [tenant_inbox_group(locked.tenant_id)],
        {
            "type": "handoff.prioritized",
            "handoffId": locked.pk,
            "conversationId": str(locked.conversation_id),
            "priority": locked.priority,
            "band": band,
            "by": by,
        },
    )
    return locked
