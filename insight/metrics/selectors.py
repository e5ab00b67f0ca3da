"""The figures of SPEC 9 for one tenant, time window and (optionally) agent, aggregated in the
database: a fixed number of queries whatever the amount of data, each served by an index.

What each figure counts (``[from, to)`` is the window):

- **conversations**: started in the window. With an agent: those it took part in (it was
  routed or re-routed to it: every conversation records ``agent.routed`` for its first agent).
- **escalationRate**, **stallRate**, **rerouteRate**: the share of those conversations with an
  ``escalated``, ``stall.detected`` or ``agent.rerouted`` event (at any time since). With an
  agent: escalated or stalled while with it, re-routed away from it.
- **handoffSuccessRate**: handoffs opened in the window that were claimed within the
  first-response target of their priority band (the tenant's ``responseTargets`` setting) and
  whose conversation was resolved afterwards, over all handoffs opened in the window. With an
  agent: handoffs of conversations whose AI agent is it.
- **people**: per human agent, the handoffs opened in the window that they claimed (handled),
  the mean seconds from handover to their first message (first response) and to closing the
  handoff (resolution: resolved, or handed back to the AI), the handoffs past either response
  target, and the CSAT of the conversations rated in the window that they had last.
- **groups**: per group of human agents, the handoffs opened in the window that went to it,
  claimed, claimed by one of its members (the rest: by anyone from the queue, or given by a
  manager), opened to everyone (its overflow), the mean seconds to a claim and to the first
  message, those past a target, and the CSAT of the conversations rated in the window whose
  last handoff to a group went to it (a group rated in the window with no handoff in it is
  listed too, with its ratings only).
- **taskCompletionRate** (the docs' end-to-end task completion): of the conversations started
  in the window, the share resolved (at any time since); ``tasks.resolvedByAI`` those resolved
  without ever being handed to people.
- **agentHandoffSuccessRate** (handoff success between agents): of the agent-to-agent
  transfers in the window (``agent.routed`` / ``agent.rerouted`` from one agent to another,
  consultations excluded), the share after which the receiving agent answered (an
  ``agent.replied`` with ``answered`` true, by it, in that conversation, at or after the
  transfer).
- **agentCalls** (failure and retry rates of agent calls): the agent runs in the window
  (``agent.replied`` and ``agent.error``) per runtime (builtin, openai, webhook): how many,
  how many failed (``agent.error``), how many needed a retry (the runtime reported
  ``retried``), and the two rates; ``agentCallFailureRate`` / ``agentCallRetryRate`` over the
  network runtimes (openai and webhook) together.
- **csat**: the customers' ratings (1 to 5) given in the window: how many, the mean, and how
  many of each score. With an agent: the ratings of conversations whose AI agent is it.
- **meanTimeToResolution**: seconds from start to resolution of the conversations resolved in
  the window, overall, per agent (the conversation's last AI agent) and per workflow.
- **actionFailureRate**, **actionRetryRate**: of the action executions finished in the window,
  the share that failed, and the share that needed more than one attempt. With an agent: the
  actions it proposed.
- **approvalTurnaround**: mean, median and 90th percentile seconds from request to decision of
  the approval requests made in the window and decided by people (expiries are not decisions).
  With an agent: the requests it made.
- **guardrails**: guardrail triggers recorded in the window (``guardrail.blocked`` and
  ``guardrail.redacted`` events, one per rule that fired, including refused actions, rule
  ``tool_access``), in total, per rule and per agent, and the conversations whose budget was
  crossed (``budget.exceeded``). With an agent: its triggers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    CharField,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate

from agents.models import Agent, Workflow
from agents.orchestrator_settings import LOWEST_BAND, PRIORITY_BANDS, effective_settings
from approvals.models import ActionExecution, ApprovalRequest, ApprovalStatus, ExecutionStatus
from conversations.decisions import AgentRerouted
from conversations.models import (
    Conversation,
    ConversationTag,
    DecisionEvent,
    EventType,
)
from core.models import Tenant
from handover.models import CsatRating, Handoff, PeopleGroup, Status
from insight.metrics.window import Window

RATE_DIGITS = 4
SECONDS_DIGITS = 3
DECIDED = (
    ApprovalStatus.APPROVED,
    ApprovalStatus.DENIED,
    ApprovalStatus.EXECUTED,
    ApprovalStatus.FAILED,
)
UNCLAIMED = (Status.OFFERED, Status.QUEUED)
COHORT_EVENTS = {
    "escalated": EventType.ESCALATED,
    "stalled": EventType.STALL_DETECTED,
    "rerouted": EventType.AGENT_REROUTED,
}
TOOK_PART = (EventType.AGENT_ROUTED, EventType.AGENT_REROUTED)
# the agent a re-route left, in the event's detail (the typed event names the key)
REROUTED_FROM = AgentRerouted.lookup("from_")


# --- database functions ------------------------------------------------------------------------


class Seconds(Func):
    """Seconds from ``start`` to ``end`` (two date-time expressions), as a float."""

    arity = 2
    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra_context):  # pragma: no cover - per vendor
        raise NotImplementedError(f"Seconds is not written for {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra_context,
        )


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()
    allow_distinct = False

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _percentiles_in_database() -> bool:
    return connection.vendor == "postgresql"


# --- helpers -----------------------------------------------------------------------------------


def rate(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` rounded, or None when there is nothing to divide by."""
    if not whole:
        return None
    return round((part or 0) / whole, RATE_DIGITS)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), SECONDS_DIGITS)


def _cohort_events(window: Window) -> QuerySet[DecisionEvent]:
    """Events of the conversations started in the window (an event never precedes its
    conversation, so ``created_at >= start`` bounds the index range scan)."""
    return DecisionEvent.objects.filter(
        tenant=window.tenant,
        created_at__gte=window.start,
        # the conversation's tenant too: lets PostgreSQL read the window's conversations
        # through conv_tenant_created instead of scanning them all
        conversation__tenant=window.tenant,
        conversation__created_at__gte=window.start,
        conversation__created_at__lt=window.end,
    )


def _day(expression: str, tenant: Tenant) -> TruncDate:
    return TruncDate(expression, tzinfo=tenant.tzinfo)


# --- conversations: escalation, stall and re-route rates -----------------------------------------


def _conversation_counts(window: Window, *, by_day: bool) -> dict[Any, int]:
    """Conversations of the window (of the agent, when given), per day or under key None."""
    if window.agent is None:
        queryset = Conversation.objects.filter(
            tenant=window.tenant, created_at__gte=window.start, created_at__lt=window.end
        )
        field = "created_at"
        count = Count("*")  # no column: an index-only scan of conv_tenant_created
    else:
        queryset = _cohort_events(window).filter(agent_slug=window.agent, type__in=TOOK_PART)
        field = "conversation__created_at"
        count = Count("conversation", distinct=True)
    if not by_day:
        return {None: queryset.aggregate(n=count)["n"] or 0}
    rows = (
        queryset.annotate(day=_day(field, window.tenant))
        .values("day")
        .annotate(n=count)
        .order_by()
        .values_list("day", "n")
    )
    return dict(rows)


def _outcome_counts(window: Window, *, by_day: bool) -> dict[Any, dict[str, int]]:
    """Of the window's conversations, how many were escalated, stalled and re-routed."""
    agent = window.agent
    queryset = _cohort_events(window)
    if agent is None:
        queryset = queryset.filter(type__in=COHORT_EVENTS.values())
        flags = {name: Q(type=kind) for name, kind in COHORT_EVENTS.items()}
    else:
        queryset = queryset.filter(
            Q(
                agent_slug=agent,
                type__in=[EventType.ESCALATED, EventType.STALL_DETECTED],
            )
            | Q(type=AgentRerouted.type, **{REROUTED_FROM: agent})
        )
        flags = {
            "escalated": Q(type=EventType.ESCALATED),
            "stalled": Q(type=EventType.STALL_DETECTED),
            "rerouted": Q(type=EventType.AGENT_REROUTED),
        }
    counts = {name: Count("conversation", distinct=True, filter=q) for name, q in flags.items()}
    if not by_day:
        return {None: queryset.aggregate(**counts)}
    rows = (
        queryset.annotate(day=_day("conversation__created_at", window.tenant))
        .values("day")
        .annotate(**counts)
        .order_by()
    )
    return {row.pop("day"): row for row in rows}


def conversation_rates(window: Window) -> dict[str, Any]:
    """Conversations of the window and their escalation, stall and re-route rates."""
    total = _conversation_counts(window, by_day=False)[None]
    outcomes = _outcome_counts(window, by_day=False)[None]
    return _rates_row(total, outcomes)


def _rates_row(total: int, outcomes: dict[str, int]) -> dict[str, Any]:
    return {
        "conversations": total,
        "escalated": outcomes.get("escalated") or 0,
        "escalationRate": rate(outcomes.get("escalated"), total),
        "stalled": outcomes.get("stalled") or 0,
        "stallRate": rate(outcomes.get("stalled"), total),
        "rerouted": outcomes.get("rerouted") or 0,
        "rerouteRate": rate(outcomes.get("rerouted"), total),
    }


def daily_rates(window: Window) -> list[dict[str, Any]]:
    """Per day of the window (tenant time zone): conversations started that day and their
    escalation, stall and re-route rates. Two queries."""
    totals = _conversation_counts(window, by_day=True)
    outcomes = _outcome_counts(window, by_day=True)
    return [
        {"day": day, **_rates_row(totals.get(day, 0), outcomes.get(day, {}))} for day in window.days
    ]


def totals_of(days: list[dict[str, Any]]) -> dict[str, Any]:
    """The window's rates from its days (each conversation belongs to exactly one day)."""
    total = sum(d["conversations"] for d in days)
    outcomes = {k: sum(d[k] for d in days) for k in COHORT_EVENTS}
    return _rates_row(total, outcomes)


# --- handoffs ----------------------------------------------------------------------------------


def handoff_figures(
    window: Window, targets: dict[str, dict[str, int]] | None = None
) -> dict[str, Any]:
    """Handoffs opened in the window and how many succeeded (claimed within the tenant's
    response target, and the conversation resolved afterwards). One query; the conversation
    of each handoff is looked up by primary key (correlated subqueries), not joined: a join
    would have PostgreSQL hash every conversation of the tenant."""
    tenant = window.tenant
    conversation = Conversation.objects.filter(pk=OuterRef("conversation_id"))
    queryset = Handoff.objects.filter(
        tenant=tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        queryset = queryset.annotate(
            agent=Subquery(conversation.values("current_agent__slug")[:1])
        ).filter(agent=window.agent)
    targets = targets or response_targets(tenant)
    claimed = Q(claimed_at__isnull=False)
    in_time = claimed & Q(
        claimed_at__lte=F("created_at") + target_by_band(targets, "firstResponse")
    )
    resolved = Exists(
        conversation.filter(resolved_at__isnull=False, resolved_at__gte=OuterRef("created_at"))
    )
    figures = queryset.aggregate(
        total=Count("pk"),
        claimed=Count("pk", filter=claimed),
        claimedWithinTarget=Count("pk", filter=in_time),
        resolvedAfterHandoff=Count("pk", filter=Q(resolved)),
        successful=Count("pk", filter=Q(in_time, resolved)),
        unclaimed=Count("pk", filter=Q(status__in=UNCLAIMED)),
        meanSecondsToClaim=Avg(Seconds("claimed_at", "created_at"), filter=claimed),
    )
    figures["meanSecondsToClaim"] = _seconds(figures["meanSecondsToClaim"])
    figures["responseTargets"] = targets
    figures["successRate"] = rate(figures["successful"], figures["total"])
    return figures


def response_targets(tenant: Tenant) -> dict[str, dict[str, int]]:
    """The tenant's response targets by priority band (the setting at the tenant level; the
    figures use them for every handoff of the tenant, stack overrides included)."""
    effective, _ = effective_settings(tenant=tenant)
    return effective["responseTargets"]


def target_by_band(targets: dict[str, dict[str, int]], kind: str) -> Case:
    """A handoff's ``kind`` target (``firstResponse``, ``resolution``) as a duration, by the
    band its ``priority`` falls in."""
    return Case(
        *(
            When(priority__gte=lowest, then=Value(dt.timedelta(seconds=targets[band][kind])))
            for band, lowest in PRIORITY_BANDS
        ),
        default=Value(dt.timedelta(seconds=targets[LOWEST_BAND][kind])),
        output_field=DurationField(),
    )


def _handoffs_of_people(window: Window):
    """The handoffs opened in the window (with an agent: of conversations whose AI agent is
    it now), as the people's and the groups' figures count them."""
    handoffs = Handoff.objects.filter(
        tenant=window.tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        handoffs = handoffs.filter(conversation__current_agent__slug=window.agent)
    return handoffs


def _past_a_target(targets: dict[str, dict[str, int]]) -> Q:
    """A handoff that missed its first-response or its resolution target."""
    return Q(
        Q(first_response_at__gt=F("created_at") + target_by_band(targets, "firstResponse"))
        # a snooze paused the resolution target (handover.targets): ``paused`` is final once
        # the handoff closed
        | Q(resolved_at__gt=F("created_at") + target_by_band(targets, "resolution") + F("paused"))
    )


def people_figures(
    window: Window, targets: dict[str, dict[str, int]] | None = None
) -> list[dict[str, Any]]:
    """Per human agent, the handoffs opened in the window that they claimed: how many, the
    mean seconds to their first message and to closing it, how many missed a target, and the
    CSAT of the conversations they had last (rated in the window). Two queries."""
    tenant = window.tenant
    targets = targets or response_targets(tenant)
    handoffs = _handoffs_of_people(window).filter(claimed_by__isnull=False)
    ratings = CsatRating.objects.filter(
        tenant=tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        ratings = ratings.filter(conversation__current_agent__slug=window.agent)
    responded = Q(first_response_at__isnull=False)
    closed = Q(resolved_at__isnull=False)
    late = _past_a_target(targets)
    rows = (
        handoffs.values("claimed_by", "claimed_by__username", "claimed_by__first_name")
        .annotate(
            handled=Count("pk"),
            firstResponse=Avg(Seconds("first_response_at", "created_at"), filter=responded),
            resolution=Avg(Seconds("resolved_at", "created_at"), filter=closed),
            breached=Count("pk", filter=late),
        )
        .order_by("claimed_by__username")
    )
    csat = {
        row["person"]: row
        for row in ratings.filter(person__isnull=False)
        .values("person")
        .annotate(rated=Count("pk"), mean=Avg("score"))
    }
    people = []
    for row in rows:
        rated = csat.get(row["claimed_by"], {})
        people.append(
            {
                "username": row["claimed_by__username"],
                "name": row["claimed_by__first_name"] or row["claimed_by__username"],
                "handled": row["handled"],
                "meanFirstResponseSeconds": _seconds(row["firstResponse"]),
                "meanResolutionSeconds": _seconds(row["resolution"]),
                "breached": row["breached"],
                "csatRatings": rated.get("rated", 0),
                "csatMean": round(rated["mean"], 2) if rated.get("mean") is not None else None,
            }
        )
    return people


def group_figures(
    window: Window, targets: dict[str, dict[str, int]] | None = None
) -> list[dict[str, Any]]:
    """Per group of human agents (``handover.groups``), the handoffs opened in the window that
    went to it: how many, how many were claimed and how many of those by one of its members,
    how many were opened to everyone (its overflow), the mean seconds to a claim and to the
    first message, how many missed a target, and the CSAT of the conversations rated in the
    window whose last handoff to a group went to it. Two queries (three when a group was rated
    with no handoff in the window); by the group's name."""
    targets = targets or response_targets(window.tenant)
    handoffs = _handoffs_of_people(window).filter(group__isnull=False)
    claimed = Q(claimed_at__isnull=False)
    member = Exists(
        PeopleGroup.members.through.objects.filter(
            peoplegroup_id=OuterRef("group_id"), user_id=OuterRef("claimed_by_id")
        )
    )
    late = _past_a_target(targets)
    rows = list(
        handoffs.annotate(by_member=member)
        .values("group_id", "group__name")
        .annotate(
            handoffs=Count("pk"),
            claimed=Count("pk", filter=claimed),
            claimedByMembers=Count("pk", filter=claimed & Q(by_member=True)),
            overflowed=Count("pk", filter=Q(overflowed_at__isnull=False)),
            toClaim=Avg(Seconds("claimed_at", "created_at"), filter=claimed),
            firstResponse=Avg(
                Seconds("first_response_at", "created_at"),
                filter=Q(first_response_at__isnull=False),
            ),
            breached=Count("pk", filter=late),
        )
        .order_by("group__name", "group_id")
    )
    rated = _csat_by_group(window)
    missing = set(rated) - {row["group_id"] for row in rows}
    if missing:  # rated in the window, with no handoff opened in it
        for pk, name in PeopleGroup.objects.filter(
            tenant=window.tenant, pk__in=missing
        ).values_list("pk", "name"):
            rows.append({"group_id": pk, "group__name": name})
        rows.sort(key=lambda row: (row["group__name"], row["group_id"]))
    figures = []
    for row in rows:
        csat = rated.get(row["group_id"], {})
        figures.append(
            {
                "id": row["group_id"],
                "name": row["group__name"],
                "handoffs": row.get("handoffs", 0),
                "claimed": row.get("claimed", 0),
                "claimedByMembers": row.get("claimedByMembers", 0),
                "overflowed": row.get("overflowed", 0),
                "meanSecondsToClaim": _seconds(row.get("toClaim")),
                "meanFirstResponseSeconds": _seconds(row.get("firstResponse")),
                "breached": row.get("breached", 0),
                "csatRatings": csat.get("rated", 0),
                "csatMean": round(csat["mean"], 2) if csat.get("mean") is not None else None,
            }
        )
    return figures


def _csat_by_group(window: Window) -> dict[int, dict[str, Any]]:
    """The ratings given in the window, by the group the rated conversation's last handoff to
    a group went to (``{group id: {"rated", "mean"}}``). One query."""
    ratings = CsatRating.objects.filter(
        tenant=window.tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        ratings = ratings.filter(conversation__current_agent__slug=window.agent)
    last_group = (
        Handoff.objects.filter(conversation_id=OuterRef("conversation_id"), group__isnull=False)
        .order_by("-created_at", "-pk")
        .values("group_id")[:1]
    )
    return {
        row["group"]: row
        for row in ratings.annotate(group=Subquery(last_group))
        .filter(group__isnull=False)
        .values("group")
        .annotate(rated=Count("pk"), mean=Avg("score"))
        .order_by()
    }


NETWORK_RUNTIMES = ("openai", "webhook")


def task_figures(window: Window) -> dict[str, Any]:
    """Conversations started in the window and how many were resolved, with and without a
    person. One query."""
    conversations = Conversation.objects.filter(
        tenant=window.tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        conversations = conversations.filter(
            Exists(
                DecisionEvent.objects.filter(
                    conversation=OuterRef("pk"), type__in=TOOK_PART, agent_slug=window.agent
                )
            )
            | Q(entry_agent__slug=window.agent)
        )
    handed = Exists(Handoff.objects.filter(conversation=OuterRef("pk")))
    resolved = Q(resolved_at__isnull=False)
    figures = conversations.aggregate(
        started=Count("pk"),
        resolved=Count("pk", filter=resolved),
        resolvedByAI=Count("pk", filter=resolved & ~Q(handed)),
    )
    figures["completionRate"] = rate(figures["resolved"], figures["started"])
    return figures


def agent_handoff_figures(window: Window) -> dict[str, Any]:
    """Transfers from one agent to another in the window and how many the receiving agent
    (the transfer event's ``agent_slug``, as the conductor records it) answered after. One
    query."""
    transfers = (
        DecisionEvent.objects.filter(
            tenant=window.tenant,
            type__in=TOOK_PART,
            created_at__gte=window.start,
            created_at__lt=window.end,
        )
        .filter(detail__has_key="from")
        # a consultation is no transfer (a key that is missing compares as NULL: say it)
        .filter(~Q(detail__has_key="mode") | ~Q(detail__mode="consultation"))
    )
    if window.agent is not None:
        transfers = transfers.filter(Q(detail__from=window.agent) | Q(detail__to=window.agent))
    answered = Exists(
        DecisionEvent.objects.filter(
            conversation=OuterRef("conversation"),
            type=EventType.AGENT_REPLIED,
            agent_slug=OuterRef("agent_slug"),  # a transfer is recorded on its receiver
            detail__answered=True,
            id__gt=OuterRef("id"),
        )
    )
    figures = transfers.aggregate(transfers=Count("pk"), answered=Count("pk", filter=Q(answered)))
    figures["successRate"] = rate(figures["answered"], figures["transfers"])
    return figures


def agent_call_figures(window: Window) -> dict[str, Any]:
    """Agent runs in the window per runtime: calls, failures, retries. One query."""
    runs = DecisionEvent.objects.filter(
        tenant=window.tenant,
        type__in=(EventType.AGENT_REPLIED, EventType.AGENT_ERROR),
        created_at__gte=window.start,
        created_at__lt=window.end,
    )
    if window.agent is not None:
        runs = runs.filter(agent_slug=window.agent)
    rows = (
        runs.annotate(runtime=Cast(KeyTextTransform("runtime", "detail"), CharField()))
        .values("runtime")
        .annotate(
            calls=Count("pk"),
            failed=Count("pk", filter=Q(type=EventType.AGENT_ERROR)),
            retried=Count("pk", filter=Q(detail__has_key="retried")),
        )
        .order_by("runtime")
    )
    by_runtime = [
        {
            "runtime": row["runtime"] or "unknown",
            "calls": row["calls"],
            "failed": row["failed"],
            "retried": row["retried"],
            "failureRate": rate(row["failed"], row["calls"]),
            "retryRate": rate(row["retried"], row["calls"]),
        }
        for row in rows
    ]
    network = [row for row in by_runtime if row["runtime"] in NETWORK_RUNTIMES]
    calls = sum(row["calls"] for row in network)
    return {
        "failureRate": rate(sum(row["failed"] for row in network), calls),
        "retryRate": rate(sum(row["retried"] for row in network), calls),
        "byRuntime": by_runtime,
    }


CSAT_COMMENTS_SHOWN = 10


def csat_figures(window: Window) -> dict[str, Any]:
    """The customers' ratings given in the window: count, mean and each score's count, and the
    latest words they added (``CSAT_COMMENTS_SHOWN``, newest first). Two queries."""
    ratings = CsatRating.objects.filter(
        tenant=window.tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        ratings = ratings.filter(conversation__current_agent__slug=window.agent)
    figures = ratings.aggregate(
        ratings=Count("pk"),
        mean=Avg("score"),
        **{f"s{score}": Count("pk", filter=Q(score=score)) for score in range(1, 6)},
    )
    said = (
        ratings.exclude(comment="")
        .select_related("conversation", "person")
        .order_by("-created_at", "-pk")[:CSAT_COMMENTS_SHOWN]
    )
    return {
        "ratings": figures["ratings"],
        "mean": round(figures["mean"], 2) if figures["mean"] is not None else None,
        "byScore": {str(score): figures[f"s{score}"] for score in range(1, 6)},
        "comments": [
            {
                "conversationId": str(row.conversation_id),
                "score": row.score,
                "comment": row.comment,
                "customer": row.conversation.customer_display,
                "person": row.person.get_username() if row.person else None,
                "ratedAt": row.created_at,
            }
            for row in said
        ],
    }


def unclaimed_handoffs(tenant: Tenant) -> int:
    """Handoffs waiting for a person now (offered hot or queued cold)."""
    return Handoff.objects.filter(tenant=tenant, status__in=UNCLAIMED).count()


# --- time to resolution ------------------------------------------------------------------------


def resolution_times(window: Window) -> dict[str, Any]:
    """Mean seconds from start to resolution of the conversations resolved in the window,
    overall, per agent and per workflow. Two queries: the durations summed per (agent id,
    workflow id) from the ``conv_tenant_resolved`` index alone, and the names of the tenant's
    agents and workflows."""

    tenant = window.tenant
    queryset = Conversation.objects.filter(
        tenant=tenant, resolved_at__gte=window.start, resolved_at__lt=window.end
    )
    if window.agent is not None:
        queryset = queryset.filter(current_agent__slug=window.agent)
    rows = list(
        queryset.values("current_agent_id", "workflow_id")
        .annotate(
            n=Count("*"),
            total=Sum(
                ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())
            ),
        )
        .order_by()
    )
    kind = Value("", output_field=CharField())
    labels = (
        Agent.objects.filter(tenant=tenant)
        .annotate(kind=Value("agent", output_field=CharField()))
        .values_list("kind", "pk", "slug", "name")
        .order_by()
        .union(
            Workflow.objects.filter(tenant=tenant)
            .annotate(kind=Value("workflow", output_field=CharField()), label=kind)
            .values_list("kind", "pk", "label", "name")
            .order_by(),
            all=True,
        )
    )
    names = {(k, pk): (slug, name) for k, pk, slug, name in labels}
    agents: dict[str, list] = defaultdict(lambda: ["", 0, 0.0])
    workflows: dict[int, list] = defaultdict(lambda: ["", 0, 0.0])
    resolved, seconds = 0, 0.0
    for row in rows:
        n, total = row["n"], (row["total"] or dt.timedelta()).total_seconds()
        resolved += n
        seconds += total
        slug, name = names.get(
            ("agent", row["current_agent_id"]), (str(row["current_agent_id"]), "")
        )
        entry = agents[slug]
        entry[0] = name
        entry[1] += n
        entry[2] += total
        if row["workflow_id"] is not None:
            entry = workflows[row["workflow_id"]]
            entry[0] = names.get(("workflow", row["workflow_id"]), ("", ""))[1]
            entry[1] += n
            entry[2] += total
    return {
        "seconds": _seconds(seconds / resolved) if resolved else None,
        "resolved": resolved,
        "byAgent": [
            {"agentId": slug, "name": name, "seconds": _seconds(total / n), "resolved": n}
            for slug, (name, n, total) in sorted(agents.items())
        ],
        "byWorkflow": [
            {"workflowId": pk, "name": name, "seconds": _seconds(total / n), "resolved": n}
            for pk, (name, n, total) in sorted(workflows.items(), key=lambda kv: kv[1][0])
        ],
    }


# --- actions and approvals ---------------------------------------------------------------------


def action_figures(window: Window) -> dict[str, Any]:
    """Action executions finished in the window: failed, and retried (more than one attempt).
    One query."""
    queryset = ActionExecution.objects.filter(
        tenant=window.tenant,
        status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED],
        finished_at__gte=window.start,
        finished_at__lt=window.end,
    )
    if window.agent is not None:
        queryset = queryset.filter(requested_by_label=f"agent:{window.agent}")
    figures = queryset.aggregate(
        finished=Count("pk"),
        failed=Count("pk", filter=Q(status=ExecutionStatus.FAILED)),
        retried=Count("pk", filter=Q(attempts__gt=1)),
    )
    figures["failureRate"] = rate(figures["failed"], figures["finished"])
    figures["retryRate"] = rate(figures["retried"], figures["finished"])
    return figures


def approval_turnaround(window: Window) -> dict[str, Any]:
    """Approval requests made in the window: mean, median and 90th percentile seconds from
    request to a person's decision. One query on PostgreSQL (``percentile_cont``), three
    elsewhere (the percentiles read by offset)."""
    queryset = ApprovalRequest.objects.filter(
        tenant=window.tenant, created_at__gte=window.start, created_at__lt=window.end
    )
    if window.agent is not None:
        queryset = queryset.filter(requested_by_label=f"agent:{window.agent}")
    decided = Q(status__in=DECIDED, decided_at__isnull=False)
    seconds = Seconds("decided_at", "created_at")
    aggregates: dict[str, Any] = {
        "requested": Count("pk"),
        "decided": Count("pk", filter=decided),
        "pending": Count("pk", filter=Q(status=ApprovalStatus.PENDING)),
        "expired": Count("pk", filter=Q(status=ApprovalStatus.EXPIRED)),
        "meanSeconds": Avg(seconds, filter=decided),
    }
    if _percentiles_in_database():
        aggregates["p50Seconds"] = PercentileCont(seconds, 0.5, filter=decided)
        aggregates["p90Seconds"] = PercentileCont(seconds, 0.9, filter=decided)
    figures = queryset.aggregate(**aggregates)
    if not _percentiles_in_database():
        ordered = (
            queryset.filter(decided)
            .annotate(seconds=seconds)
            .order_by("seconds")
            .values_list("seconds", flat=True)
        )
        for name, fraction in (("p50Seconds", 0.5), ("p90Seconds", 0.9)):
            figures[name] = _percentile_by_offset(ordered, figures["decided"], fraction)
    for name in ("meanSeconds", "p50Seconds", "p90Seconds"):
        figures[name] = _seconds(figures[name])
    return figures


GUARDRAIL_EVENTS = {
    EventType.GUARDRAIL_BLOCKED: "blocked",
    EventType.GUARDRAIL_REDACTED: "redacted",
}


def guardrail_figures(window: Window) -> dict[str, Any]:
    """Guardrail triggers in the window by rule and by agent, and budget stops. One query,
    grouped in the database (the event_tenant_type_time index)."""
    queryset = DecisionEvent.objects.filter(
        tenant=window.tenant,
        type__in=[*GUARDRAIL_EVENTS, EventType.BUDGET_EXCEEDED],
        created_at__gte=window.start,
        created_at__lt=window.end,
    )
    if window.agent is not None:
        queryset = queryset.filter(agent_slug=window.agent)
    groups = queryset.values_list("type", "rule", "agent_slug").annotate(n=Count("pk"))
    by_rule: dict[str, dict[str, int]] = defaultdict(lambda: {"blocked": 0, "redacted": 0})
    by_agent: dict[str, dict[str, int]] = defaultdict(lambda: {"blocked": 0, "redacted": 0})
    totals = {"triggers": 0, "blocked": 0, "redacted": 0, "budgetExceeded": 0}
    for type_, rule, agent, count in groups:
        if type_ == EventType.BUDGET_EXCEEDED:
            totals["budgetExceeded"] += count
            continue
        kind = GUARDRAIL_EVENTS[type_]
        totals["triggers"] += count
        totals[kind] += count
        by_rule[rule][kind] += count
        by_agent[agent][kind] += count

    def rows(groups: dict[str, dict[str, int]], key: str) -> list[dict[str, Any]]:
        out = [
            {key: name, **c, "total": c["blocked"] + c["redacted"]} for name, c in groups.items()
        ]
        return sorted(out, key=lambda r: (-r["total"], r[key]))

    return {**totals, "byRule": rows(by_rule, "rule"), "byAgent": rows(by_agent, "agentId")}


def _percentile_by_offset(ordered: QuerySet, count: int, fraction: float) -> float | None:
    """``percentile_cont`` from the (at most) two rows around the position: one query."""
    if not count:
        return None
    position = fraction * (count - 1)
    low = math.floor(position)
    values = [float(v) for v in ordered[low : low + 2]]
    if len(values) == 1 or position == low:
        return values[0]
    return values[0] + (values[1] - values[0]) * (position - low)


# --- everything --------------------------------------------------------------------------------


def metrics_summary(window: Window) -> dict[str, Any]:
    """Every figure of SPEC 9 for the window, in the API's camelCase shape."""
    return summary_from(window, conversation_rates(window))


def summary_from(window: Window, rates: dict[str, Any]) -> dict[str, Any]:
    targets = response_targets(window.tenant)
    handoffs = handoff_figures(window, targets)
    actions = action_figures(window)
    tasks = task_figures(window)
    transfers = agent_handoff_figures(window)
    calls = agent_call_figures(window)
    return {
        "from": window.start,
        "to": window.end,
        "agentId": window.agent,
        **rates,
        "handoffSuccessRate": handoffs.pop("successRate"),
        "handoffs": handoffs,
        "meanTimeToResolution": resolution_times(window),
        "actionFailureRate": actions.pop("failureRate"),
        "actionRetryRate": actions.pop("retryRate"),
        "actions": actions,
        "approvalTurnaround": approval_turnaround(window),
        "guardrails": guardrail_figures(window),
        "people": people_figures(window, targets),
        "groups": group_figures(window, targets),
        "csat": csat_figures(window),
        "taskCompletionRate": tasks.pop("completionRate"),
        "tasks": tasks,
        "agentHandoffSuccessRate": transfers.pop("successRate"),
        "agentHandoffs": transfers,
        "agentCallFailureRate": calls["failureRate"],
        "agentCallRetryRate": calls["retryRate"],
        "agentCalls": calls["byRuntime"],
    }


def tag_counts(window: Window, *, limit: int = 15) -> list[dict[str, Any]]:
    """The tags people put on the conversations started in the window, the most used first:
    ``[{"name", "conversations"}]`` (one query; an agent's window counts the conversations it
    took part in, as the rates do)."""
    tags = ConversationTag.objects.filter(
        tenant=window.tenant,
        conversation__created_at__gte=window.start,
        conversation__created_at__lt=window.end,
    )
    if window.agent is not None:
        took_part = _cohort_events(window).filter(agent_slug=window.agent, type__in=TOOK_PART)
        tags = tags.filter(conversation__in=took_part.values("conversation"))
    rows = (
        tags.values("name")
        .annotate(conversations=Count("conversation", distinct=True))
        .order_by("-conversations", "name")[:limit]
    )
    return [{"name": r["name"], "conversations": r["conversations"]} for r in rows]


def dashboard_figures(window: Window) -> dict[str, Any]:
    """What the admin dashboard shows: the summary and the daily rates (the summary's
    conversation rates are summed from the days, so the dashboard reads them once)."""
    days = daily_rates(window)
    return {"summary": summary_from(window, totals_of(days)), "days": days}


def window_ending(tenant: Tenant, *, minutes: int, now: dt.datetime) -> Window:
    return Window(tenant=tenant, start=now - dt.timedelta(minutes=minutes), end=now)
