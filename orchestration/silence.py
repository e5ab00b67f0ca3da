"""Silence is caught by a periodic sweep, not by a request (SPEC 4.1 step 7).

A conversation that is ``active`` and has seen no activity for ``stallThreshold`` x
``checkInterval`` seconds (its effective settings) is stalled. If the customer spoke last, they
are waiting on us: people take over. If we spoke last, the customer went quiet: the
conversation waits as ``stalled`` and becomes ``active`` again when they write.

The sweep walks open conversations by (last activity, id) through the ``conv_state_activity``
index in batches, each batch in its own transaction with ``SELECT ... FOR UPDATE SKIP LOCKED``
(on PostgreSQL), and every state change is conditional on the state it read, so two sweeps that
overlap never handle one conversation twice. It runs every few seconds (``config.celery``'s
schedule).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from agents.models import OrchestratorSettings
from agents.orchestrator_settings import effective_settings
from conversations import lifecycle
from conversations.decisions import HUMAN, Escalated, EscalationReason, StallDetected
from conversations.events import record
from conversations.models import (
    Conversation,
    State,
)
from conversations.selectors import customer_waits
from handover.services import hand_over

log = logging.getLogger(__name__)

TASK_NAME = "orchestration.sweep_silence"
BATCH_SIZE = 500


def _threshold(conv: Conversation, cache: dict) -> dt.timedelta:
    key = (conv.tenant_id, conv.current_agent_id)
    if key not in cache:
        values, _ = effective_settings(tenant=conv.tenant, agent=conv.current_agent)
        cache[key] = dt.timedelta(seconds=values["checkInterval"] * values["stallThreshold"])
    return cache[key]


def _shortest_threshold() -> dt.timedelta:
    """No conversation goes silent sooner than this: the prefilter for the index scan."""
    low = OrchestratorSettings.objects.aggregate(
        interval=Min("check_interval"), turns=Min("stall_threshold")
    )
    return dt.timedelta(seconds=(low["interval"] or 60) * (low["turns"] or 1))


def silence_sweep(*, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Stall the silent conversations; returns how many were stalled."""
    now = now or timezone.now()
    cutoff = now - _shortest_threshold()
    cache: dict = {}
    stalled = 0
    after: tuple[dt.datetime, object] | None = None
    while True:
        with transaction.atomic():
            batch = Conversation.objects.select_for_update(skip_locked=True, of=("self",))
            batch = batch.select_related("tenant", "current_agent").filter(
                state=State.ACTIVE, last_activity_at__lt=cutoff
            )
            if after is not None:
                moment, pk = after
                batch = batch.filter(last_activity_at__gte=moment).exclude(
                    last_activity_at=moment, pk__lte=pk
                )
            rows = list(batch.order_by("last_activity_at", "pk")[:batch_size])
            for conv in rows:
                if conv.ai_turn_at is not None:
                    continue  # an agent is answering (a turn that never comes back: turns.py)
                if conv.last_activity_at < now - _threshold(conv, cache):
                    stalled += _stall_silent(conv, now)
        if len(rows) < batch_size:
            return stalled
        after = (rows[-1].last_activity_at, rows[-1].pk)


def _stall_silent(conv: Conversation, now: dt.datetime) -> int:
    waiting = customer_waits(conv)
    try:
        lifecycle.conversation_transition(conversation=conv, to=State.STALLED, reason="silence")
    except lifecycle.ConcurrentChange:
        return 0
    record(
        conversation=conv,
        event=StallDetected(
            reason="silence",
            silent_seconds=round((now - conv.last_activity_at).total_seconds()),
            customer_waiting=waiting,
        ),
        agent_slug=conv.current_agent.slug,
    )
    if waiting:
        record(
            conversation=conv,
            event=Escalated(
                to=HUMAN,
                reason="stalled (silence) with the customer waiting",
                reason_code=EscalationReason.SILENCE,
            ),
            agent_slug=conv.current_agent.slug,
        )
        hand_over(conversation=conv, reason="silence: the customer is waiting")
    Conversation.objects.filter(pk=conv.pk).update(
        silence_checked_at=now, last_activity_at=conv.last_activity_at
    )
    return 1
