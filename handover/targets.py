"""Response targets of handoffs (issue 19, point 5): by the handoff's priority band, a person
should answer first (``firstResponse``) and resolve (``resolution``) within so many seconds of
the handover. The targets are the orchestrator setting ``responseTargets``, inherited global ->
tenant -> stack like every setting; a handoff takes those of its conversation's stack (the
stack of the agent the conversation began with).

``TargetBook(tenant)`` reads the tenant's targets and its stacks' overrides once (three
queries), so a list of handoffs costs the same whatever its length.

A snooze (``handover.snooze``) pauses the resolution target for as long as it is on: the
conversation is put aside, with nobody able to work on it. The first-response target keeps
running: a customer who had no answer yet still waits for one. A handoff keeps the time its
ended snoozes held the target (``paused``, added up by ``pause_ended`` in every UPDATE that
ends one) and the moment the one that is on began (``snoozed_at``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, DateTimeField, DurationField, F, Value, When

from agents.models import Agent, OrchestratorSettings, SettingsLevel
from agents.orchestrator_settings import effective_settings, priority_band
from core.models import Tenant


@dataclass(frozen=True)
class HandoffTargets:
    band: str
    first_response: dt.timedelta
    resolution: dt.timedelta


class TargetBook:
    """The effective response targets of one tenant, per stack."""

    def __init__(self, tenant: Tenant):
        effective, _ = effective_settings(tenant=tenant)
        self.tenant_targets: dict[str, dict[str, int]] = effective["responseTargets"]
        self.stack_targets: dict[int, dict[str, dict[str, int]]] = dict(
            OrchestratorSettings.objects.filter(
                level=SettingsLevel.STACK, tenant=tenant, response_targets__isnull=False
            ).values_list("stack_id", "response_targets")
        )
        self.supervisors: dict[int, int | None] = (
            dict(Agent.objects.filter(tenant=tenant).values_list("pk", "supervisor_id"))
            if self.stack_targets
            else {}
        )

    def _root(self, agent_id: int) -> int:
        seen = {agent_id}
        while (parent := self.supervisors.get(agent_id)) is not None and parent not in seen:
            seen.add(parent)
            agent_id = parent
        return agent_id

    def targets(self, *, priority: int, entry_agent_id: int | None) -> HandoffTargets:
        by_band = self.tenant_targets
        if self.stack_targets and entry_agent_id is not None:
            by_band = self.stack_targets.get(self._root(entry_agent_id), by_band)
        band = priority_band(priority)
        return HandoffTargets(
            band=band,
            first_response=dt.timedelta(seconds=by_band[band]["firstResponse"]),
            resolution=dt.timedelta(seconds=by_band[band]["resolution"]),
        )


def pause_ended(now: dt.datetime) -> dict[str, Any]:
    """The fields of an UPDATE that ends a handoff's snooze (woken, snoozed again, handed to a
    colleague, closed): the time it held the resolution target is added to ``paused`` (up to
    ``now``, or to its end if it ran out before), and ``snoozed_at`` cleared. Harmless on a
    handoff with no snooze."""
    held = Case(
        When(snoozed_at__isnull=True, then=Value(dt.timedelta(0))),
        When(snoozed_until__lt=now, then=F("snoozed_until") - F("snoozed_at")),
        default=Value(now, output_field=DateTimeField()) - F("snoozed_at"),
        output_field=DurationField(),
    )
    return {"paused": F("paused") + held, "snoozed_at": None}


def paused_for(handoff) -> dt.timedelta:
    """How long snoozes hold the handoff's resolution target: those that ended, and the one on
    (or the last, run out) to its end. Its target is due that much later."""
    paused = handoff.paused
    if handoff.snoozed_at is not None and handoff.snoozed_until is not None:
        paused += max(handoff.snoozed_until - handoff.snoozed_at, dt.timedelta(0))
    return paused


def targets_json(handoff, targets: HandoffTargets, now: dt.datetime) -> dict[str, Any]:
    """The handoff's targets as the inbox and the API show them: when each is due, and
    whether one is breached (not met by its time)."""
    paused = paused_for(handoff)
    first_due = handoff.created_at + targets.first_response
    resolution_due = handoff.created_at + targets.resolution + paused
    first_at = handoff.first_response_at
    resolved_at = handoff.resolved_at
    first_breached = (first_at or now) > first_due
    resolution_breached = (resolved_at or now) > resolution_due
    return {
        "priorityBand": targets.band,
        "responseTargetMinutes": int(targets.first_response.total_seconds() // 60),
        "firstResponseDueAt": first_due,
        "firstRespondedAt": first_at,
        "resolutionDueAt": resolution_due,
        "resolutionPausedSeconds": int(paused.total_seconds()),
        "breached": first_breached or resolution_breached,
        "breaches": [
            name
            for name, breached in (
                ("firstResponse", first_breached),
                ("resolution", resolution_breached),
            )
            if breached
        ],
    }


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def targets_text(by_band: dict[str, dict[str, int]]) -> str:
    """ "urgent 5 min / 4 h, high ..." (first response / resolution per band)."""
    return ", ".join(
        f"{band} {_duration(t['firstResponse'])} / {_duration(t['resolution'])}"
        for band, t in by_band.items()
    )
