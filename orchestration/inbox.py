"""What a person's inbox shows: the open handoffs and who is online (for human agents), and the
approvals they may decide (for approvers). The inbox socket sends it on every (re)connect, so a
dropped event loses nothing."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from approvals.selectors import approval_json, approvals_pending_for
from core.models import Tenant
from handover.groups import asked_group_id
from handover.mentions import mentions_summary
from handover.models import Status
from handover.presence import agent_statuses, is_available, online_agents
from handover.selectors import handoff_json, open_handoffs
from handover.services import agent_limit
from handover.targets import TargetBook
from handover.viewing import viewers_of


def inbox_snapshot(
    user, tenant: Tenant, *, handoffs: bool = True, approvals: bool = True
) -> dict[str, Any]:
    """What the inbox socket shows on (re)connect: the open handoffs and who is online (when
    ``handoffs``: a human agent's socket), the pending approvals the person may decide (when
    ``approvals``: an approver's)."""
    targets = TargetBook(tenant)
    now = timezone.now()
    rows = open_handoffs(tenant) if handoffs else []
    if rows and not is_available(user, tenant):  # away, busy or at the limit: no live offers
        rows = [h for h in rows if h.status != Status.OFFERED]
    elif any(h.status == Status.OFFERED and asked_group_id(h) for h in rows):
        # a group's live offer rings for its members only (handover.groups)
        mine = set(user.people_groups.values_list("pk", flat=True))
        rows = [h for h in rows if h.status != Status.OFFERED or asked_group_id(h) in (None, *mine)]
    return {
        "type": "inbox.snapshot",
        "handoffs": [handoff_json(h, now=now, targets=targets) for h in rows],
        "approvals": [approval_json(a) for a in approvals_pending_for(user)] if approvals else [],
        "online": sorted(
            p.user.get_username() for p in online_agents(tenant).select_related("user")
        )
        if handoffs
        else [],
        "statuses": agent_statuses(tenant) if handoffs else {},
        # the person's limit of conversations, as the page shows it ("2 of 5")
        "myLimit": agent_limit(user) if handoffs else None,
        # the notes that named them: how many are unread, and the newest
        "mentions": mentions_summary(user) if handoffs else None,
        # who has which conversation open in the inbox now (handover.viewing)
        "viewers": viewers_of(tenant.pk) if handoffs else {},
    }
