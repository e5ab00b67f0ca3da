"""Reads of approvals, for the API, the admin, the approvals page and the inbox socket.

Every selector takes the tenant (or a person, whose tenant it is) and never returns another
tenant's rows. ``approval_json`` is the API's shape (SPEC 6 ``approval``); it reads what
``approval_list``/``approval_get`` already fetched (no query per row).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet
from django.utils import timezone

from approvals.models import (
    ActionExecution,
    ApprovalCause,
    ApprovalRequest,
    ApprovalStatus,
    CauseKind,
    Verdict,
)
from conversations.attachments import only_files
from conversations.messages import files_shown
from conversations.models import Message
from core.models import ApproverGroup, Tenant
from core.scoping import membership_of

MAX_LIST = 200
MAX_PENDING = 500
TRANSCRIPT_LENGTH = 50


def _with_related(queryset: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return queryset.select_related(
        "conversation__opened_by_key", "requested_by", "decided_by", "execution"
    ).prefetch_related("decisions", "causes")


def approval_list(
    *,
    tenant: Tenant,
    status: str | Iterable[str] | None = None,
    conversation_id: Any = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[ApprovalRequest]:
    """The tenant's approval requests, newest first, optionally by status (one or several),
    conversation or action; ``before_id`` pages back."""
    queryset = ApprovalRequest.objects.filter(tenant=tenant)
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        queryset = queryset.filter(status__in=statuses)
    if conversation_id:
        queryset = queryset.filter(conversation_id=conversation_id)
    if action:
        queryset = queryset.filter(action=action)
    if before_id:
        queryset = queryset.filter(pk__lt=before_id)
    limit = max(1, min(limit, MAX_LIST))
    return list(_with_related(queryset).order_by("-id")[:limit])


def approval_get(*, tenant: Tenant | int, approval_id: int) -> ApprovalRequest:
    """One request of the tenant; raises ``ApprovalRequest.DoesNotExist`` (also for another
    tenant's)."""
    return _with_related(ApprovalRequest.objects.filter(tenant=tenant)).get(pk=approval_id)


def approver_people(*, tenant_id: int, approvers: Iterable[str]) -> QuerySet:
    """The active people of the tenant a rule's ``approvers`` names: listed usernames holding
    the approver role, and members of listed ``group:`` groups."""
    approvers = list(approvers or [])
    usernames = [a for a in approvers if not a.startswith("group:")]
    groups = [a.removeprefix("group:") for a in approvers if a.startswith("group:")]
    by_group = ApproverGroup.objects.filter(tenant_id=tenant_id, name__in=groups).values("members")
    return (
        get_user_model()
        .objects.filter(is_active=True, membership__tenant_id=tenant_id)
        .filter(
            Q(username__in=usernames, membership__is_approver=True) | Q(pk__in=by_group),
        )
        .distinct()
    )


def approver_tokens(user) -> set[str]:
    """How rules may name this person: their username (if they hold the approver role) and
    ``group:<name>`` for each approver group of their tenant they belong to."""
    membership = membership_of(user)
    if membership is None or not user.is_active:
        return set()
    tokens = {user.get_username()} if membership.is_approver else set()
    groups = ApproverGroup.objects.filter(tenant_id=membership.tenant_id, members=user)
    tokens |= {f"group:{name}" for name in groups.values_list("name", flat=True)}
    return tokens


_CAUSE_PROBLEMS = {
    CauseKind.ASKED: "You asked for this action",
    CauseKind.ASKED_KEY: "This action was asked for through the API key “{key}”, which you created",
    CauseKind.OPENED: "You opened the conversation this action was asked for in",
    CauseKind.OPENED_KEY: "The conversation this action was asked for in was opened through the "
    "API key “{key}”, which you created",
    CauseKind.WROTE: "You wrote the customer's message the AI answered with this action",
    CauseKind.WROTE_KEY: "The customer's message the AI answered with this action was sent "
    "through the API key “{key}”, which you created",
}
ELSEWHERE = "; someone else must decide it."


def causes_of(approval: ApprovalRequest) -> list[ApprovalCause]:
    """The people who caused the request (prefetched by the selectors above)."""
    return sorted(approval.causes.all(), key=lambda c: c.pk)


def cause_problem(cause: ApprovalCause) -> str:
    """Why the person behind ``cause`` may not decide its request."""
    return _CAUSE_PROBLEMS[cause.kind].format(key=cause.key_name) + ELSEWHERE


def decide_problem(approval: ApprovalRequest, user) -> str | None:
    """Why ``user`` may not decide ``approval`` (None: they may). Checks who they are, not the
    request's status (a decided request is a conflict, not a permission problem): a person of
    the tenant, a listed approver, and none of the people who caused it."""
    if not getattr(user, "pk", None) or not getattr(user, "is_authenticated", False):
        return "An integration key cannot decide approvals; a person must."
    membership = membership_of(user)
    if membership is None or membership.tenant_id != approval.tenant_id or not user.is_active:
        return "You are not an approver of this request."
    if approval.requested_by_id is not None and approval.requested_by_id == user.pk:
        return _CAUSE_PROBLEMS[CauseKind.ASKED] + ELSEWHERE
    cause = next((c for c in causes_of(approval) if c.user_id == user.pk), None)
    if cause is not None:
        return cause_problem(cause)
    if not approver_tokens(user) & set(approval.approvers or []):
        return "You are not an approver of this request."
    return None


def origin_text(approval: ApprovalRequest, agents: dict[str, str] | None = None) -> str:
    """Who caused the request, in one sentence, for its page and the admin: "Requested by
    the AI agent Billing in a conversation opened by maria through the API key “crm”; maria
    may not decide it." Reads the request's conversation and causes (fetched with it)."""
    label = approval.requested_by_label or ""
    causes = causes_of(approval)
    if label.startswith("agent:"):
        slug = label.removeprefix("agent:")
        who = f"the AI agent {(agents or {}).get(slug, slug)}"
    elif label.startswith("api-key:"):
        creator = next((c.username for c in causes if c.kind == CauseKind.ASKED_KEY), None)
        who = f"the API key “{label.removeprefix('api-key:')}”"
        who += f" (created by {creator})" if creator else ""
    else:
        who = label or "someone"
    conversation = approval.conversation
    opener = next((c.username for c in causes if c.kind == CauseKind.OPENED), None)
    key_creator = next((c.username for c in causes if c.kind == CauseKind.OPENED_KEY), None)
    if conversation.opened_by_key_id:
        by = f"by {key_creator} " if key_creator else ""
        opened = f"opened {by}through the API key “{conversation.opened_by_key.name}”"
    elif opener or conversation.opened_by_id:
        opened = f"opened by {opener or 'a person of the tenant'}"
    else:
        opened = "opened from the public chat or by the system"
    sentence = f"Requested by {who} in a conversation {opened}"
    wrote = next((c for c in causes if c.kind in (CauseKind.WROTE, CauseKind.WROTE_KEY)), None)
    if wrote is not None:
        through = f" through the API key “{wrote.key_name}”" if wrote.key_name else ""
        sentence += f", answering a message {wrote.username} sent{through}"
    names = list(dict.fromkeys(c.username for c in causes))
    if approval.requested_by_id and approval.requested_by and not names:
        names = [approval.requested_by.get_username()]
    if names:
        joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        sentence += f"; {joined} may not decide it"
    return sentence + "."


def approvals_pending_for(user, *, limit: int = MAX_PENDING) -> list[ApprovalRequest]:
    """The pending requests this person may decide and has not decided yet, oldest first
    (what the approvals page and the inbox snapshot show them)."""
    membership = membership_of(user)
    tokens = approver_tokens(user)
    if membership is None or not tokens:
        return []
    pending = (
        _with_related(
            ApprovalRequest.objects.filter(
                tenant_id=membership.tenant_id,
                status=ApprovalStatus.PENDING,
                expires_at__gt=timezone.now(),  # overdue: the sweep is about to expire it
            )
        )
        .exclude(requested_by=user)
        .exclude(causes__user=user)
        .exclude(decisions__approver=user)
        .order_by("created_at", "id")
    )
    # approvers is a short JSON list; matched here so it works on SQLite as on PostgreSQL
    found = []
    for approval in pending.iterator(chunk_size=200):
        if tokens & set(approval.approvers or []):
            found.append(approval)
            if len(found) >= limit:
                break
    return found


def approval_transcript(approval: ApprovalRequest, *, limit: int = TRANSCRIPT_LENGTH) -> list[dict]:
    """The conversation around the request (its last ``limit`` messages, in order)."""
    rows = (
        Message.objects.filter(conversation_id=approval.conversation_id)
        .order_by("-id")
        .values("id", "role", "author", "text", "created_at", "attachments")[:limit]
    )
    return [
        {
            "id": r["id"],
            "role": r["role"],
            "author": r["author"],
            "text": r["text"],
            "createdAt": r["created_at"],
            # what the customer sent (a photo of the damage, a receipt): evidence for a decision
            "files": files_shown(r["attachments"]),
            "onlyFiles": only_files(r["text"], r["attachments"]),
        }
        for r in reversed(list(rows))
    ]


# --- shapes -----------------------------------------------------------------------------------


def execution_of(approval: ApprovalRequest) -> ActionExecution | None:
    try:
        return approval.execution
    except ObjectDoesNotExist:
        return None


def execution_json(execution: ActionExecution | None) -> dict | None:
    if execution is None:
        return None
    return {
        "id": execution.pk,
        "conversationId": str(execution.conversation_id),
        "approvalId": execution.request_id,
        "action": execution.action,
        "params": execution.params,
        "status": execution.status,
        "attempts": execution.attempts,
        "result": execution.result,
        "error": execution.error or None,
        "executionKey": execution.execution_key,
        "idempotencyKey": execution.idempotency_key or None,
        "createdAt": execution.created_at,
        "finishedAt": execution.finished_at,
    }


def approval_json(approval: ApprovalRequest) -> dict:
    decisions = sorted(approval.decisions.all(), key=lambda d: (d.created_at, d.pk))
    approvals = sum(1 for d in decisions if d.verdict == Verdict.APPROVE)
    return {
        "id": approval.pk,
        "conversationId": str(approval.conversation_id),
        "action": approval.action,
        "params": approval.params,
        "status": approval.status,
        "requestedBy": approval.requested_by_label,
        "approvers": approval.approvers,
        "quorum": approval.quorum,
        "approvals": approvals,
        "decisions": [
            {
                "approver": d.approver_label,
                "verdict": d.verdict,
                "reason": d.reason or None,
                "createdAt": d.created_at,
            }
            for d in decisions
        ],
        "causedBy": [
            {
                "username": c.username,
                "how": c.kind,
                **({"key": c.key_name} if c.key_name else {}),
            }
            for c in causes_of(approval)
        ],
        "decidedBy": approval.decided_by.get_username() if approval.decided_by_id else None,
        "reason": approval.reason or None,
        "rule": approval.rule or None,
        "why": approval.rule_detail,
        "idempotencyKey": approval.idempotency_key,
        "execution": execution_json(execution_of(approval)),
        "createdAt": approval.created_at,
        "decidedAt": approval.decided_at,
        "expiresAt": approval.expires_at,
    }
