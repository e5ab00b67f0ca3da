"""Admin for manager insight (SPEC 9, issue 7): the metrics dashboard with its SVG charts,
filters and CSV export; conversation timelines; rule backtests and their results; metric
alerts. Managers see their tenant only (another tenant's page is a 404); superusers pick one.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from agents.models import Agent
from agents.rule_sets import RulesInvalid, effective_ruleset, rules_document
from conversations import decisions
from conversations.messages import files_shown
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from core.admin_scoping import (
    ReadOnlyMixin,
    TenantScopedAdmin,
    TenantScopedForm,
)
from core.csv_cells import csv_safe
from core.json_input import (
    JsonRefused,
    loads,
)
from core.models import Tenant
from core.scoping import (
    managed_tenant,
    scope_queryset,
)
from insight.backtests import (
    SYNC_LIMIT,
    BacktestNotApplicable,
    backtest_apply,
    backtest_start,
)
from insight.metrics import charts
from insight.metrics.selectors import dashboard_figures, tag_counts
from insight.metrics.window import (
    Window,
    WindowInvalid,
    parse_window,
)
from insight.models import (
    BACKTEST_MAX_CONVERSATIONS,
    AlertMetric,
    Backtest,
    BacktestStatus,
    MetricAlert,
    MetricsDashboard,
)

RULE_REF = re.compile(r"^(?P<owner>[a-z0-9]+(?:-[a-z0-9]+)*) v(?P<version>\d+)\b")
TURN_GAP = dt.timedelta(seconds=2)  # events stamped together with a turn's belong to it


# --- the dashboard -------------------------------------------------------------------------------


def dashboard_tenant(request) -> tuple[Tenant | None, list[Tenant]]:
    """The tenant the page shows and the ones to choose from. A manager sees their own (asking
    for another is a 404); a superuser picks one with ``?tenant=<id>`` (default: the first)."""
    chosen = request.GET.get("tenant") or ""
    if request.user.is_superuser:
        tenants = list(Tenant.objects.order_by("name", "pk"))
        picked = next((t for t in tenants if str(t.pk) == chosen), None)
        if chosen and picked is None:
            raise Http404("No such tenant.")
        return picked or (tenants[0] if tenants else None), tenants
    tenant = managed_tenant(request.user)
    if tenant is None or chosen not in ("", str(tenant.pk)):
        raise Http404("No such tenant.")
    return tenant, [tenant]


def _window_or_errors(request, tenant: Tenant) -> tuple[Window | None, dict[str, list[str]]]:
    try:
        return parse_window(request.GET, tenant=tenant), {}
    except WindowInvalid as exc:
        return None, exc.errors


def _day_label(day: dt.date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def _count(value: float | None) -> str:
    return "0" if not value else f"{int(value)}"


def dashboard_charts(figures: dict[str, Any]) -> dict[str, Any]:
    summary, days = figures["summary"], figures["days"]
    labels = [_day_label(d["day"]) for d in days]
    handoffs = summary["handoffs"]
    resolution = summary["meanTimeToResolution"]
    approvals = summary["approvalTurnaround"]
    in_time_unresolved = handoffs["claimedWithinTarget"] - handoffs["successful"]
    late = handoffs["claimed"] - handoffs["claimedWithinTarget"]
    return {
        "rates": charts.rate_lines(
            [
                charts.Series(
                    "Escalation", charts.COLORS["escalation"], [d["escalationRate"] for d in days]
                ),
                charts.Series("Stall", charts.COLORS["stall"], [d["stallRate"] for d in days]),
                charts.Series(
                    "Re-route", charts.COLORS["reroute"], [d["rerouteRate"] for d in days]
                ),
            ],
            labels,
            title="Escalation, stall and re-route rates of the conversations started each day",
            name="rates",
        ),
        "handoffs": charts.stacked(
            [
                ("Claimed in time and resolved", handoffs["successful"], charts.COLORS["success"]),
                ("Claimed in time, not resolved", in_time_unresolved, charts.COLORS["late"]),
                ("Claimed late", late, charts.COLORS["unresolved"]),
                (
                    "Not claimed",
                    handoffs["total"] - handoffs["claimed"],
                    charts.COLORS["unclaimed"],
                ),
            ],
            title="Handoff outcomes",
            name="handoffs",
        ),
        "resolution_by_agent": charts.bars(
            [
                (row["name"] or row["agentId"], row["seconds"], f"{row['resolved']} resolved")
                for row in resolution["byAgent"]
            ],
            title="Mean time to resolution by agent",
            name="resolution-agent",
        ),
        "guardrails_by_rule": charts.bars(
            [
                (row["rule"], row["total"], f"{row['blocked']} blocked, {row['redacted']} redacted")
                for row in summary["guardrails"]["byRule"]
            ],
            title="Guardrail triggers by rule",
            name="guardrails-rule",
            fmt=_count,
        ),
        "guardrails_by_agent": charts.bars(
            [
                (
                    row["agentId"],
                    row["total"],
                    f"{row['blocked']} blocked, {row['redacted']} redacted",
                )
                for row in summary["guardrails"]["byAgent"]
            ],
            title="Guardrail triggers by agent",
            name="guardrails-agent",
            fmt=_count,
        ),
        "resolution_by_workflow": charts.bars(
            [
                (row["name"], row["seconds"], f"{row['resolved']} resolved")
                for row in resolution["byWorkflow"]
            ],
            title="Mean time to resolution by workflow",
            name="resolution-workflow",
        ),
        "approvals": charts.bars(
            []
            if not approvals["decided"]
            else [
                ("Mean", approvals["meanSeconds"], ""),
                ("Median (p50)", approvals["p50Seconds"], ""),
                ("90th percentile", approvals["p90Seconds"], ""),
            ],
            title="Approval turnaround: request to decision",
            name="approvals",
        ),
        "actions": charts.bars(
            []
            if not summary["actions"]["finished"]
            else [
                ("Failed", summary["actionFailureRate"], f"{summary['actions']['failed']}"),
                ("Retried", summary["actionRetryRate"], f"{summary['actions']['retried']}"),
            ],
            title="Action executions: failure and retry rates",
            name="actions",
            fmt=charts.percent,
            color=charts.COLORS["stall"],
        ),
        "csat": charts.bars(
            []
            if not summary["csat"]["ratings"]
            else [
                (f"{score} of 5", count, "")
                for score, count in sorted(summary["csat"]["byScore"].items(), reverse=True)
            ],
            title="Customer ratings (CSAT) by score",
            name="csat",
            fmt=_count,
            color=charts.COLORS["success"],
        ),
        "people_first_response": charts.bars(
            [
                (
                    row["name"],
                    row["meanFirstResponseSeconds"],
                    f"{row['handled']} handled, {row['breached']} past a target",
                )
                for row in summary["people"]
            ],
            title="Mean first response by person",
            name="people-first-response",
        ),
    }


def summary_cards(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures across the top of the dashboard: (metric, raw value, shown, label)."""
    handoffs = summary["handoffs"]
    resolution = summary["meanTimeToResolution"]
    approvals = summary["approvalTurnaround"]
    actions = summary["actions"]
    csat = summary["csat"]

    def card(metric: str, raw: Any, shown: str, label: str) -> dict[str, Any]:
        return {"metric": metric, "raw": "" if raw is None else raw, "shown": shown, "label": label}

    return [
        card(
            "conversations",
            summary["conversations"],
            str(summary["conversations"]),
            "conversations",
        ),
        card(
            "escalationRate",
            summary["escalationRate"],
            charts.percent(summary["escalationRate"]),
            f"escalated ({summary['escalated']})",
        ),
        card(
            "stallRate",
            summary["stallRate"],
            charts.percent(summary["stallRate"]),
            f"stalled ({summary['stalled']})",
        ),
        card(
            "rerouteRate",
            summary["rerouteRate"],
            charts.percent(summary["rerouteRate"]),
            f"re-routed ({summary['rerouted']})",
        ),
        card(
            "handoffSuccessRate",
            summary["handoffSuccessRate"],
            charts.percent(summary["handoffSuccessRate"]),
            f"handoff success ({handoffs['successful']} of {handoffs['total']})",
        ),
        card(
            "meanTimeToResolution",
            resolution["seconds"],
            charts.duration(resolution["seconds"]),
            f"mean time to resolution ({resolution['resolved']} resolved)",
        ),
        card(
            "actionFailureRate",
            summary["actionFailureRate"],
            charts.percent(summary["actionFailureRate"]),
            f"actions failed ({actions['failed']} of {actions['finished']})",
        ),
        card(
            "actionRetryRate",
            summary["actionRetryRate"],
            charts.percent(summary["actionRetryRate"]),
            f"actions retried ({actions['retried']})",
        ),
        card(
            "approvalTurnaround",
            approvals["p50Seconds"],
            charts.duration(approvals["p50Seconds"]),
            f"median approval turnaround ({approvals['decided']} decided)",
        ),
        card(
            "taskCompletionRate",
            summary["taskCompletionRate"],
            charts.percent(summary["taskCompletionRate"]),
            f"tasks completed ({summary['tasks']['resolved']} of {summary['tasks']['started']}; "
            f"{summary['tasks']['resolvedByAI']} by the AI alone)",
        ),
        card(
            "agentHandoffSuccessRate",
            summary["agentHandoffSuccessRate"],
            charts.percent(summary["agentHandoffSuccessRate"]),
            f"agent-to-agent handoffs answered ({summary['agentHandoffs']['answered']} of "
            f"{summary['agentHandoffs']['transfers']})",
        ),
        card(
            "agentCallFailureRate",
            summary["agentCallFailureRate"],
            charts.percent(summary["agentCallFailureRate"]),
            "LLM and webhook calls failed",
        ),
        card(
            "agentCallRetryRate",
            summary["agentCallRetryRate"],
            charts.percent(summary["agentCallRetryRate"]),
            "LLM and webhook calls retried",
        ),
        card(
            "csat",
            csat["mean"],
            "—" if csat["mean"] is None else f"{csat['mean']:.1f} / 5",
            f"CSAT ({csat['ratings']} rating{'' if csat['ratings'] == 1 else 's'})",
        ),
    ]


def csv_rows(figures: dict[str, Any]) -> list[list[Any]]:
    """The dashboard's figures as ``metric, group, value`` rows."""
    summary = figures["summary"]
    rows: list[list[Any]] = [
        ["from", "", summary["from"].isoformat()],
        ["to", "", summary["to"].isoformat()],
        ["agentId", "", summary["agentId"] or ""],
    ]
    for key in (
        "conversations",
        "escalated",
        "escalationRate",
        "stalled",
        "stallRate",
        "rerouted",
        "rerouteRate",
        "handoffSuccessRate",
        "actionFailureRate",
        "actionRetryRate",
    ):
        rows.append([key, "", summary[key]])
    for key, value in summary["handoffs"].items():
        if key == "responseTargets":
            for band, targets in value.items():
                for kind, seconds in targets.items():
                    rows.append([f"handoffs.responseTargets.{kind}", f"band:{band}", seconds])
        else:
            rows.append([f"handoffs.{key}", "", value])
    for key, value in summary["actions"].items():
        rows.append([f"actions.{key}", "", value])
    for key, value in summary["approvalTurnaround"].items():
        rows.append([f"approvalTurnaround.{key}", "", value])
    resolution = summary["meanTimeToResolution"]
    rows.append(["meanTimeToResolution.seconds", "", resolution["seconds"]])
    rows.append(["meanTimeToResolution.resolved", "", resolution["resolved"]])
    for row in resolution["byAgent"]:
        rows.append(["meanTimeToResolution.seconds", f"agent:{row['agentId']}", row["seconds"]])
        rows.append(["meanTimeToResolution.resolved", f"agent:{row['agentId']}", row["resolved"]])
    for row in resolution["byWorkflow"]:
        group = f"workflow:{row['name']}"
        rows.append(["meanTimeToResolution.seconds", group, row["seconds"]])
        rows.append(["meanTimeToResolution.resolved", group, row["resolved"]])
    guardrails = summary["guardrails"]
    for key in ("triggers", "blocked", "redacted", "budgetExceeded"):
        rows.append([f"guardrails.{key}", "", guardrails[key]])
    for row in guardrails["byRule"]:
        rows.append(["guardrails.triggers", f"rule:{row['rule']}", row["total"]])
    for row in guardrails["byAgent"]:
        rows.append(["guardrails.triggers", f"agent:{row['agentId']}", row["total"]])
    for key in (
        "taskCompletionRate",
        "agentHandoffSuccessRate",
        "agentCallFailureRate",
        "agentCallRetryRate",
    ):
        rows.append([key, "", summary[key]])
    for key, value in {**summary["tasks"], **summary["agentHandoffs"]}.items():
        rows.append([key, "", value])
    for row in summary["agentCalls"]:
        for key in ("calls", "failed", "retried"):
            rows.append([f"agentCalls.{key}", f"runtime:{row['runtime']}", row[key]])
    csat = summary["csat"]
    rows.append(["csat.ratings", "", csat["ratings"]])
    rows.append(["csat.mean", "", csat["mean"]])
    for score, count in csat["byScore"].items():
        rows.append(["csat.ratings", f"score:{score}", count])
    for row in summary["people"]:
        group = f"person:{row['username']}"
        for key in (
            "handled",
            "meanFirstResponseSeconds",
            "meanResolutionSeconds",
            "breached",
            "csatRatings",
            "csatMean",
        ):
            rows.append([f"people.{key}", group, row[key]])
    for row in summary["groups"]:
        for key in (
            "handoffs",
            "claimed",
            "claimedByMembers",
            "overflowed",
            "meanSecondsToClaim",
            "meanFirstResponseSeconds",
            "breached",
            "csatRatings",
            "csatMean",
        ):
            rows.append([f"groups.{key}", f"group:{row['name']}", row[key]])
    for day in figures["days"]:
        for key in ("conversations", "escalationRate", "stallRate", "rerouteRate"):
            rows.append([f"daily.{key}", day["day"].isoformat(), day[key]])
    return rows


def _history_of(tag: str, window, tz) -> str:
    """The inbox's history of the window's conversations with ``tag``."""
    since = timezone.localtime(window.start, tz).date().isoformat()
    until = timezone.localtime(window.end - dt.timedelta(microseconds=1), tz).date().isoformat()
    return f"{reverse('inbox-history')}?{urlencode({'tag': tag, 'since': since, 'until': until})}"


@admin.register(MetricsDashboard)
class MetricsDashboardAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """No list: the entry opens the dashboard; timelines hang off it."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.dashboard_view), name="insight_dashboard"),
            path("", view(self.dashboard_view), name="insight_metricsdashboard_changelist"),
            path("export.csv", view(self.csv_view), name="insight_dashboard_csv"),
            path(
                "timeline/<uuid:conversation_id>/",
                view(self.timeline_view),
                name="insight_timeline",
            ),
        ]

    def changelist_view(self, request, extra_context=None):
        return self.dashboard_view(request)

    def _check(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def dashboard_view(self, request):
        self._check(request)
        tenant, tenants = dashboard_tenant(request)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Metrics dashboard",
            "opts": self.opts,
            "tenant": tenant,
            "tenants": tenants if request.user.is_superuser else [],
            "params": {
                "from": request.GET.get("from", ""),
                "to": request.GET.get("to", ""),
                "agentId": request.GET.get("agentId", ""),
            },
        }
        if tenant is None:
            return TemplateResponse(request, "admin/insight/dashboard.html", context)
        window, errors = _window_or_errors(request, tenant)
        context["errors"] = errors
        context["agents"] = list(
            Agent.objects.filter(tenant=tenant).order_by("slug").values_list("slug", "name")
        )
        if window is not None:
            figures = dashboard_figures(window)
            tz = tenant.tzinfo
            query = {k: v for k, v in request.GET.items() if v}
            today = timezone.localdate(timezone=tz)
            ranges = []
            for days in (7, 30, 90):
                preset = {**query, "from": (today - dt.timedelta(days=days - 1)).isoformat()}
                preset.pop("to", None)
                ranges.append((f"Last {days} days", urlencode(preset)))
            context.update(
                window=window,
                figures=figures,
                summary=figures["summary"],
                cards=summary_cards(figures["summary"]),
                first_response_targets=", ".join(
                    f"{band} {charts.duration(t['firstResponse'])}"
                    for band, t in figures["summary"]["handoffs"]["responseTargets"].items()
                ),
                charts=dashboard_charts(figures),
                people=[
                    {
                        **row,
                        "first_response": charts.duration(row["meanFirstResponseSeconds"]),
                        "resolution": charts.duration(row["meanResolutionSeconds"]),
                    }
                    for row in figures["summary"]["people"]
                ],
                groups=[
                    {
                        **row,
                        "to_claim": charts.duration(row["meanSecondsToClaim"]),
                        "first_response": charts.duration(row["meanFirstResponseSeconds"]),
                    }
                    for row in figures["summary"]["groups"]
                ],
                from_value=timezone.localtime(window.start, tz).date().isoformat(),
                to_value=timezone.localtime(window.end - dt.timedelta(microseconds=1), tz)
                .date()
                .isoformat(),
                csv_query=urlencode(query),
                ranges=ranges,
                tags=[
                    {**row, "history": _history_of(row["name"], window, tz)}
                    for row in tag_counts(window)
                ],
            )
        return TemplateResponse(request, "admin/insight/dashboard.html", context)

    def csv_view(self, request):
        self._check(request)
        tenant, _ = dashboard_tenant(request)
        if tenant is None:
            raise Http404("No tenant.")
        window, errors = _window_or_errors(request, tenant)
        if window is None:
            text = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
            return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
        figures = dashboard_figures(window)
        tz = tenant.tzinfo
        name = (
            f"metrics-{tenant.slug}-{timezone.localtime(window.start, tz):%Y%m%d}-"
            f"{timezone.localtime(window.end, tz):%Y%m%d}.csv"
        )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        writer = csv.writer(response)
        writer.writerow(["metric", "group", "value"])
        for row in csv_rows(figures):
            writer.writerow([csv_safe(cell) for cell in row])
        return response

    # --- timeline ---

    def timeline_view(self, request, conversation_id):
        self._check(request)
        conversations = Conversation.objects.select_related(
            "tenant", "entry_agent", "current_agent", "workflow", "assignee"
        )
        if not request.user.is_superuser:
            conversations = scope_queryset(conversations, managed_tenant(request.user))
        conversation = get_object_or_404(conversations, pk=conversation_id)
        messages_ = list(Message.objects.filter(conversation=conversation).order_by("id"))
        events = list(DecisionEvent.objects.filter(conversation=conversation).order_by("id"))
        agents = dict(
            Agent.objects.filter(tenant_id=conversation.tenant_id).values_list("slug", "pk")
        )
        items = timeline_items(conversation, messages_, events, agents)
        return TemplateResponse(
            request,
            "admin/insight/timeline.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Timeline of {conversation}",
                "opts": self.opts,
                "conversation": conversation,
                "items": items,
                "event_count": len(events),
                "trace_url": settings.TRACE_URL,
                "message_count": len(messages_),
                "total_ms": sum(e.duration_ms for e in events),
            },
        )


def _rule_link(rule: str, agents: dict[str, int]) -> str:
    match = RULE_REF.match(rule or "")
    if not match or match["owner"] not in agents:
        return ""
    url = reverse("admin:agents_ruleset_rules_history", args=[agents[match["owner"]]])
    return f"{url}#v{match['version']}"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def event_summary(event: DecisionEvent) -> str:
    """One line saying what the event decided (read through its typed event)."""
    d = decisions.read(event)
    if isinstance(d, decisions.MessageClassified):
        mood = "—" if d.sentiment is None else f"{d.sentiment:+.2f}"
        overridden = f" (given: {', '.join(d.overridden)})" if d.overridden else ""
        if d.by:
            overridden = f" (from {d.by}'s reply: {', '.join(d.overridden)})"
        return f"intent {_short(d.intent)}, sentiment {mood}, risk {_short(d.risk)}{overridden}"
    if isinstance(d, decisions.AgentRouted):  # and AgentRerouted
        if d.consultation and d.branch is not None:  # a concurrent consultation's branch
            took = f", started at +{d.started_ms:g} ms" if d.started_ms is not None else ""
            outcome = f", {d.stopped}" if d.stopped else (", answered" if d.answered else "")
            return f"{d.from_} consulted {d.to} (branch {d.branch}{took}){outcome}"
        if d.consultation:
            stopped = f", stopped: {d.stopped}" if d.stopped else ""
            return f"{d.from_} consulted {d.to} (depth {d.depth}){stopped}"
        source = f"{d.from_} → " if d.from_ else ""
        return f"{source}{d.to}: {d.reason or ''}".strip(": ")
    if isinstance(d, decisions.RuleFired):
        why = "; ".join(d.why or [])
        fallback = f", fallback: {d.fallback}" if d.fallback else ""
        return f"{d.kind} → {d.to}{fallback}" + (f" ({why})" if why else "")
    if isinstance(d, decisions.Escalated):
        source = f"from {d.from_} " if d.from_ else ""
        fallback = f" (fallback: {d.fallback})" if d.fallback else ""
        unavailable = f" ({d.unavailable} unavailable)" if d.unavailable else ""
        why = f", {d.why}" if isinstance(d.why, str) else ""
        return f"{source}to {d.to}{fallback}{unavailable}: {d.reason}{why}"
    if isinstance(d, decisions.StateChanged):
        return f"{d.from_} → {d.to}: {d.reason}"
    if isinstance(d, decisions.StallDetected):
        return d.reason
    if isinstance(d, decisions.HandoffOffered):
        return _parts(d.mode, d.why or d.reason)
    if isinstance(d, decisions.HandoffClaimed):
        return _parts(d.mode, d.by and f"by {d.by}")
    if isinstance(d, decisions.HandoffExpired):
        return _parts(d.reason)
    if isinstance(d, decisions.ApprovalRequested):
        return _parts(d.action)
    if isinstance(d, decisions.ApprovalDecided):
        return _parts(d.action, d.outcome, d.by and f"by {d.by}")
    if isinstance(d, decisions.ActionProposed):
        return _parts(d.action, "needs approval" if d.approval_needed else None)
    if isinstance(d, decisions.ActionExecuted):
        return _parts(d.action, d.attempts and f"attempt {d.attempts}")
    if isinstance(d, decisions.ActionFailed):
        return _parts(d.action, d.attempts and f"attempt {d.attempts}", d.error)
    if isinstance(d, decisions.AgentReplied):
        return "answered" if d.answered else "did not answer"
    if isinstance(d, decisions.AgentError):
        return d.error
    if isinstance(d, decisions.WorkflowStep):
        if d.stopped:
            return _parts(
                f"step {d.step} by {d.agent}" if d.step else None,
                f"stopped: {d.stopped}",
                d.why,
                d.fallback and f"{d.fallback} answers instead",
            )
        return _parts(
            f"step {d.step} by {d.agent}" if d.step else f"step by {d.agent}",
            d.inputs is not None and f"inputs {', '.join(d.inputs) or 'none'}",
            f"outputs {json.dumps(d.outputs or {})}",
        )
    if isinstance(d, decisions.GuardrailBlocked):  # and GuardrailRedacted
        return _parts(d.rule, d.action, d.outcome != d.action and d.outcome)
    if isinstance(d, decisions.BudgetExceeded):
        return f"{d.budget} budget: {d.used} of {d.limit}"
    if isinstance(d, decisions.OrchestratorDecided):
        target = d.to or (", ".join(d.agents) if d.agents else None) or d.mode
        ignored = f" (ignored: {d.ignored})" if d.ignored else ""
        return _parts(f"model {d.model} chose {d.action}", target, d.reason) + ignored
    if isinstance(d, decisions.EmailFailed):
        return f"the e-mail of message {d.message_id} to {d.to} failed ({d.attempts}): {d.error}"
    if isinstance(d, decisions.TurnDropped):
        what = "reply" if d.ran else "turn"
        return f"the AI's {what} to message {d.turn} was not sent: {d.reason}"
    return json.dumps(d.to_detail(), sort_keys=True)[:200]


def _parts(*parts: Any) -> str:
    return ", ".join(str(p) for p in parts if p)


def timeline_items(
    conversation: Conversation,
    messages_: list[Message],
    events: list[DecisionEvent],
    agents: dict[str, int],
) -> list[dict[str, Any]]:
    """Messages and decision events in one list by time. The pipeline stamps a turn's events
    when it ends, after the replies it wrote; each event is therefore placed right after the
    customer message that caused it (``event.message``), and events written in the same
    burst without a message (its state changes, its handoff) follow it there too."""
    stamped = {m.pk: m.created_at for m in messages_}
    slowest = max((e.duration_ms for e in events), default=0.0) or 1.0
    start = conversation.created_at
    items = []
    for m in messages_:
        items.append(
            {
                "kind": "message",
                "at": m.created_at,
                "key": (m.created_at, 0, m.pk),
                "message": m,
                "files": files_shown(m.attachments),
                "elapsed": (m.created_at - start).total_seconds(),
            }
        )
    anchor: tuple[int, dt.datetime] | None = None  # (message id, created_at of last event)
    for e in events:
        if e.message_id in stamped:
            anchor = (e.message_id, e.created_at)
            key = (stamped[e.message_id], 1, e.pk)
        elif anchor is not None and abs(e.created_at - anchor[1]) <= TURN_GAP:
            key = (stamped[anchor[0]], 1, e.pk)
            anchor = (anchor[0], e.created_at)
        else:
            anchor = None
            key = (e.created_at, 1, e.pk)
        items.append(
            {
                "kind": "event",
                "at": e.created_at,
                "key": key,
                "event": e,
                "summary": event_summary(e),
                "rule_url": _rule_link(e.rule, agents),
                "bar": round(60 * e.duration_ms / slowest, 1),  # px
                "detail": json.dumps(
                    decisions.read(e).to_detail(), indent=2, sort_keys=True, default=str
                ),
                "elapsed": (e.created_at - start).total_seconds(),
            }
        )
    items.sort(key=lambda item: item["key"])
    return items


# --- backtests -----------------------------------------------------------------------------------

DRAFT_HELP = (
    'The rules document, as in the API: {"escalation": {"maxAttempts", "intents", '
    '"targetAgentId", "escalateToHuman"}, "handoffs": [{"condition", "targetAgentId"}], '
    '"approvals": {...}}. "Load the live rules" fills it with the agent\'s current rules. '
    "To edit in a form instead, open the agent's orchestration rules and choose "
    '"Backtest these edits".'
)
DRAFT_EXAMPLE = {
    "escalation": None,
    "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}],
    "approvals": None,
}


class BacktestForm(forms.Form):
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(),
        help_text="Whose rules the draft would become (agents inheriting them are included).",
    )
    size = forms.IntegerField(
        label="Last N conversations",
        min_value=1,
        max_value=BACKTEST_MAX_CONVERSATIONS,
        initial=50,
        help_text=f"The tenant's most recent conversations. Up to {SYNC_LIMIT} run at once; "
        "more run in the background with a progress bar.",
    )
    draft = forms.CharField(
        label="Draft rules (JSON)",
        widget=forms.Textarea(
            attrs={"rows": 16, "cols": 90, "spellcheck": "false", "class": "insight-json"}
        ),
        help_text=DRAFT_HELP,
    )

    def __init__(self, *args, tenant: Tenant | None, **kwargs):
        super().__init__(*args, **kwargs)
        agents = Agent.objects.select_related("tenant").order_by("tenant__name", "slug")
        if tenant is not None:
            agents = scope_queryset(agents, tenant)
            self.fields["agent"].label_from_instance = lambda a: f"{a.slug} ({a.name})"
        else:
            self.fields["agent"].label_from_instance = lambda a: f"{a.tenant} · {a.slug}"
        self.fields["agent"].queryset = agents

    def clean_draft(self):
        text = self.cleaned_data["draft"]
        try:
            return loads(text)
        except JsonRefused as exc:
            raise forms.ValidationError(exc.sentence()) from None


def _progress(backtest: Backtest) -> dict[str, Any]:
    total = backtest.total or backtest.size
    return {
        "id": backtest.pk,
        "status": backtest.status,
        "progress": backtest.progress,
        "total": total,
        "percent": round(100 * backtest.progress / total) if total else 0,
        "finished": backtest.finished,
        "error": backtest.error or None,
        "differing": (backtest.summary or {}).get("differing"),
    }


@admin.register(Backtest)
class BacktestAdmin(TenantScopedAdmin):
    list_display = [
        "id",
        "created_at",
        "agent",
        "size",
        "status",
        "progress_display",
        "differing",
        "created_by",
    ]
    list_filter = ["status"]
    list_select_related = ["agent", "created_by"]
    search_fields = ["agent__slug"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # results are kept as they were run

    @admin.display(description="progress")
    def progress_display(self, backtest) -> str:
        total = backtest.total or backtest.size
        return f"{backtest.progress} / {total}"

    @admin.display(description="conversations that differ")
    def differing(self, backtest):
        found = (backtest.summary or {}).get("differing")
        return "—" if found is None else found

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:backtest_id>/progress/",
                view(self.progress_view),
                name="insight_backtest_progress",
            ),
            path(
                "<int:backtest_id>/apply/",
                view(self.apply_view),
                name="insight_backtest_apply",
            ),
            *super().get_urls(),
        ]

    def _scoped_tenant(self, request) -> Tenant | None:
        return None if request.user.is_superuser else managed_tenant(request.user)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        tenant = self._scoped_tenant(request)
        form = BacktestForm(request.POST or None, tenant=tenant)
        if request.method == "POST" and "load" in request.POST:
            form = self._with_live_rules(request, tenant)
        elif request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                backtest = backtest_start(
                    agent=data["agent"], draft=data["draft"], size=data["size"], user=request.user
                )
            except RulesInvalid as exc:
                form.add_error(
                    "draft", [f"{where}: {' '.join(msgs)}" for where, msgs in exc.errors.items()]
                )
            else:
                if backtest.status == BacktestStatus.FAILED:
                    self.message_user(request, f"The backtest failed: {backtest.error}", "error")
                return HttpResponseRedirect(
                    reverse("admin:insight_backtest_change", args=[backtest.pk])
                )
        elif request.method == "GET":
            form = BacktestForm(
                initial={"draft": json.dumps(DRAFT_EXAMPLE, indent=2), "size": 50},
                tenant=tenant,
            )
        return TemplateResponse(
            request,
            "admin/insight/backtest_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Backtest draft rules",
                "opts": self.opts,
                "form": form,
                "sync_limit": SYNC_LIMIT,
            },
        )

    def _with_live_rules(self, request, tenant: Tenant | None) -> BacktestForm:
        """The form again, its draft filled with the chosen agent's live rules."""
        agents = Agent.objects.all()
        if tenant is not None:
            agents = scope_queryset(agents, tenant)
        agent = agents.filter(pk=request.POST.get("agent") or None).first()
        initial: dict[str, Any] = {
            "size": request.POST.get("size") or 50,
            "draft": request.POST.get("draft") or "",
        }
        if agent is not None:
            ruleset, owner = effective_ruleset(agent)
            document = rules_document(ruleset) or {
                "escalation": None,
                "handoffs": [],
                "approvals": None,
            }
            initial.update(agent=agent.pk, draft=json.dumps(document, indent=2))
            source = "its own" if owner == agent else f"inherited from {owner}" if owner else None
            self.message_user(
                request,
                f"Loaded the live rules of {agent.slug} ({source})."
                if source
                else f"{agent.slug} has no rules yet; the draft is empty.",
                messages.INFO,
            )
        return BacktestForm(initial=initial, tenant=tenant)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        backtest = self.get_object(request, object_id)
        differences = backtest.differences.select_related("conversation").order_by(
            "-conversation_created_at", "pk"
        )
        page = Paginator(differences, 100).get_page(request.GET.get("page"))
        return TemplateResponse(
            request,
            "admin/insight/backtest_result.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Backtest #{backtest.pk}",
                "opts": self.opts,
                "backtest": backtest,
                "summary": backtest.summary or {},
                "page": page,
                "progress": _progress(backtest),
                "draft_json": json.dumps(backtest.draft, indent=2),
                "progress_url": reverse("admin:insight_backtest_progress", args=[backtest.pk]),
                "apply_url": reverse("admin:insight_backtest_apply", args=[backtest.pk]),
                "can_apply": self.has_add_permission(request),
            },
        )

    def apply_view(self, request, backtest_id: int):
        """POST: the backtest's draft becomes the agent's rules (a new version)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        backtest = self.get_object(request, str(backtest_id))
        if backtest is None:
            raise Http404
        here = reverse("admin:insight_backtest_change", args=[backtest.pk])
        try:
            ruleset = backtest_apply(backtest=backtest, user=request.user)
        except BacktestNotApplicable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(here)
        except RulesInvalid as exc:
            problems = "; ".join(f"{where}: {' '.join(msgs)}" for where, msgs in exc.errors.items())
            self.message_user(request, f"The draft cannot be applied: {problems}", messages.ERROR)
            return HttpResponseRedirect(here)
        self.message_user(
            request,
            f"Applied: the draft is now version {ruleset.version} of the rules of "
            f"{backtest.agent.slug}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:agents_ruleset_rules_history", args=[backtest.agent_id])
        )

    def progress_view(self, request, backtest_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        backtest = self.get_object(request, str(backtest_id))
        return JsonResponse(_progress(backtest))


# --- alerts --------------------------------------------------------------------------------------


class MetricAlertForm(TenantScopedForm):
    class Meta:
        model = MetricAlert
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        threshold = cleaned.get("threshold")
        if (
            cleaned.get("metric") == AlertMetric.ESCALATION_RATE
            and threshold is not None
            and threshold > 1
        ):
            self.add_error("threshold", "An escalation rate runs from 0 to 1 (0.25 is 25%).")
        return cleaned


@admin.register(MetricAlert)
class MetricAlertAdmin(TenantScopedAdmin):
    form = MetricAlertForm
    list_display = [
        "metric",
        "threshold",
        "window_minutes",
        "is_active",
        "last_sent_at",
        "last_value",
        "dashboard",
    ]
    list_filter = ["metric", "is_active"]
    readonly_fields = ["last_sent_at", "last_value"]

    @admin.display(description="")
    def dashboard(self, alert) -> str:
        return format_html(
            '<a href="{}?{}">dashboard</a>',
            reverse("admin:insight_dashboard"),
            urlencode({"tenant": alert.tenant_id}),
        )
