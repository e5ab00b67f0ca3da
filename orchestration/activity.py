"""What the AI already did in a conversation, for the person who picks it up (issue 19, point 1).

Every action it proposed (and the ones rejected as invalid), every approval request with each
approver's verdict and reason, every execution (succeeded, failed, still running) with its
amount and currency, and every guardrail intervention, as small dicts in time order: the
inbox shows them inline with the messages, and the handoff pack's brief lists what was done.

Read from the approvals rows (``ApprovalRequest`` with its decisions and execution,
``ActionExecution``) and the typed decision events (``conversations.decisions``), in a fixed
number of queries whatever the conversation holds (four: requests, their decisions,
executions, events)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Prefetch

from agents.action_registry import amount_text, get_action
from agents.models import Agent
from approvals.models import (
    ActionExecution,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    ExecutionStatus,
    Verdict,
)
from conversations.decisions import ActionProposed, EmailFailed, GuardrailBlocked, read
from conversations.models import DecisionEvent, EventType

MAX_ROWS = 200  # of each kind, the latest: a conversation with more is far from usual

EVENT_TYPES = (
    EventType.ACTION_PROPOSED,
    EventType.GUARDRAIL_BLOCKED,
    EventType.GUARDRAIL_REDACTED,
    EventType.EMAIL_FAILED,
)


def action_words(action: str, params: Mapping[str, Any] | None) -> str:
    """ "Refund of 49.00 EUR for order A-12345": the action in words, capitalised."""
    spec = get_action(action)
    words = spec.words(params) if spec else action.replace("_", " ")
    return words[:1].upper() + words[1:]


def who_text(label: str, agents: Mapping[str, str]) -> str:
    """Who asked, as a person reads it: ``agent:agent-billing`` is "the AI (Billing)"."""
    if not label:
        return "someone"
    kind, _, name = label.partition(":")
    if kind == "agent" and name:
        return f"the AI ({agents.get(name, name)})"
    if kind == "api-key" and name:
        return f"the integration {name}"
    return label


def _money(params: Mapping[str, Any] | None) -> dict[str, Any]:
    params = params if isinstance(params, Mapping) else {}
    if "amount" not in params:
        return {}
    currency = params.get("currency") if isinstance(params.get("currency"), str) else ""
    return {"amount": amount_text(params["amount"]), "currency": currency or None}


def _why_line(line: Any) -> str:
    """A rule's explanation line, tidied: "true   params.amount > 100  (...)" reads
    "params.amount > 100 (...)"."""
    text = " ".join(str(line).split())
    return text[5:] if text.startswith("true ") else text


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _entry(
    *,
    kind: str,
    step: str,
    at: dt.datetime,
    action: str,
    params: Mapping[str, Any] | None,
    text: str,
    by: str | None = None,
    reason: str | None = None,
    **ids: Any,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "step": step,
        "at": _iso(at),
        "action": action,
        "words": action_words(action, params) if action else "",
        **_money(params),
        "by": by,
        "reason": reason or None,
        "text": text,
        **{k: v for k, v in ids.items() if v is not None},
    }


def _approval_steps(approval: ApprovalRequest, agents: Mapping[str, str]) -> list[dict]:
    words = action_words(approval.action, approval.params)
    asked_by = who_text(approval.requested_by_label, agents)
    ids: dict[str, Any] = {"approvalId": approval.pk}
    why = "; ".join(_why_line(w) for w in approval.rule_detail or []) or None
    steps = [
        _entry(
            kind="action",
            step="requested",
            at=approval.created_at,
            action=approval.action,
            params=approval.params,
            by=asked_by,
            reason=why,
            text=f"{words}: proposed by {asked_by}, needs approval"
            + (f" because {why}" if why else "")
            + (" · waiting for a decision" if approval.status == ApprovalStatus.PENDING else ""),
            **ids,
        )
    ]
    for decision in approval.decisions.all():
        verb = "Approved" if decision.verdict == Verdict.APPROVE else "Denied"
        steps.append(
            _entry(
                kind="action",
                step="approved" if decision.verdict == Verdict.APPROVE else "denied",
                at=decision.created_at,
                action=approval.action,
                params=approval.params,
                by=decision.approver_label,
                reason=decision.reason,
                text=f"{words}: {verb.lower()} by {decision.approver_label}"
                + (f": \u201c{decision.reason}\u201d" if decision.reason else ""),
                **ids,
            )
        )
    if approval.status == ApprovalStatus.EXPIRED:
        steps.append(
            _entry(
                kind="action",
                step="expired",
                at=approval.decided_at or approval.expires_at,
                action=approval.action,
                params=approval.params,
                reason=approval.reason,
                text=f"{words}: expired, nobody decided in time",
                **ids,
            )
        )
    return steps


def _execution_step(
    execution: ActionExecution, agents: Mapping[str, str], *, direct: bool
) -> dict[str, Any]:
    words = action_words(execution.action, execution.params)
    asked_by = who_text(execution.requested_by_label, agents)
    ids: dict[str, Any] = {"executionId": execution.pk, "approvalId": execution.request_id}
    how = f", proposed by {asked_by}, no approval needed" if direct else ""
    if execution.status == ExecutionStatus.SUCCEEDED:
        step, text = "executed", f"{words}: carried out{how}"
    elif execution.status == ExecutionStatus.FAILED:
        attempts = f" after {execution.attempts} attempt{'s' if execution.attempts != 1 else ''}"
        step, text = "failed", f"{words}: failed{attempts}{how}"
    else:
        step, text = "running", f"{words}: being carried out{how}"
    return _entry(
        kind="action",
        step=step,
        at=execution.finished_at or execution.created_at,
        action=execution.action,
        params=execution.params,
        by=asked_by if direct else None,
        reason=execution.error if execution.status == ExecutionStatus.FAILED else None,
        text=text,
        **ids,
    )


def _event_step(row: DecisionEvent, agents: Mapping[str, str]) -> dict[str, Any] | None:
    event = read(row)
    agent = agents.get(row.agent_slug, row.agent_slug) if row.agent_slug else "the AI"
    if isinstance(event, ActionProposed):
        if not event.rejected:
            return None  # the request or execution rows tell the rest
        problems = "; ".join(f"{k}: {v}" for k, v in event.rejected.items())
        return _entry(
            kind="action",
            step="rejected",
            at=row.created_at,
            action=event.action,
            params=event.params,
            by=f"the AI ({agent})",
            reason=problems,
            text=f"{action_words(event.action, event.params)}: proposed by the AI ({agent}) and "
            f"rejected as invalid ({problems})",
        )
    if isinstance(event, GuardrailBlocked):
        if event.rule == "tool_access":
            words = action_words(event.action, event.params)
            text = f"Guardrail: the AI ({agent}) is not allowed to propose this: {words}; refused"
            action, params = event.action, event.params
        else:
            verb = {"redact": "cut something out of", "block": "blocked", "fallback": "replaced"}
            text = (
                f"Guardrail \u201c{event.rule}\u201d {verb.get(event.action, event.action)} "
                f"a reply of the AI ({agent})"
            )
            action, params = "", None
        step = "redacted" if row.type == EventType.GUARDRAIL_REDACTED else "blocked"
        entry = _entry(
            kind="guardrail",
            step=step,
            at=row.created_at,
            action=action,
            params=params,
            by=f"the AI ({agent})",
            reason=event.outcome,
            text=text,
        )
        entry["rule"] = event.rule
        return entry
    if isinstance(event, EmailFailed):
        return _entry(
            kind="email",
            step="failed",
            at=row.created_at,
            action="",
            params=None,
            reason=event.error,
            text=f"A reply could not be e-mailed to {event.to} after {event.attempts} "
            f"attempts ({event.error}): the customer has not received it",
            messageId=event.message_id,
        )
    return None


def activity_of(conversation, *, agents: Mapping[str, str] | None = None) -> list[dict]:
    """The actions, approvals, executions and guardrail interventions of ``conversation``,
    one step each, in time order. ``agents`` maps agent slugs to names."""
    agents = agents or {}
    approvals = list(
        ApprovalRequest.objects.filter(conversation=conversation)
        .prefetch_related(
            Prefetch("decisions", queryset=ApprovalDecision.objects.order_by("created_at", "id"))
        )
        .order_by("-created_at", "-id")[:MAX_ROWS]
    )
    executions = list(
        ActionExecution.objects.filter(conversation=conversation).order_by("-created_at", "-id")[
            :MAX_ROWS
        ]
    )
    events = list(
        DecisionEvent.objects.filter(conversation=conversation, type__in=EVENT_TYPES)
        .only("type", "detail", "agent_slug", "created_at")
        .order_by("-id")[:MAX_ROWS]
    )
    steps: list[dict] = []
    for approval in approvals:
        steps.extend(_approval_steps(approval, agents))
    for execution in executions:
        steps.append(_execution_step(execution, agents, direct=execution.request_id is None))
    for row in events:
        step = _event_step(row, agents)
        if step is not None:
            steps.append(step)
    steps.sort(key=lambda s: s["at"] or "")
    return steps


FINAL = {"executed", "failed", "denied", "expired", "rejected", "blocked", "redacted"}


def actions_done(steps: Iterable[dict]) -> list[dict]:
    """One line per action (its latest step) from ``activity_of``: what the AI already did
    or asked for, for the brief. A guardrail on a reply is left out (it changed no data)."""
    latest: dict[Any, dict] = {}
    order: list[Any] = []
    for index, step in enumerate(steps):
        if (step["kind"] == "guardrail" and not step["action"]) or step["kind"] == "email":
            continue  # a guardrail on a reply, a mail not delivered: no action of the AI
        key = (
            ("approval", step["approvalId"])
            if step.get("approvalId")
            else ("execution", step["executionId"])
            if step.get("executionId")
            else ("event", index)
        )
        if key not in latest:
            order.append(key)
        current = latest.get(key)
        # a quorum's second approval is not the end of it; an execution's step is
        if current is None or current["step"] not in FINAL or step["step"] in FINAL:
            latest[key] = step
    return [latest[key] for key in order]


def agent_names(tenant_id: int) -> dict[str, str]:
    """The tenant's agents' names by slug (one query)."""
    return dict(Agent.objects.filter(tenant_id=tenant_id).values_list("slug", "name"))
