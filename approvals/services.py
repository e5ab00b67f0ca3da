"""Approvals' writes (SPEC 7): the gate every proposed action goes through, decisions, the
execution of an action exactly once, and expiry.

- ``action_propose``: the effective approval rules of the conversation's agent
  (``agents.rule_engine.rules_for``, or in a turn the tenant's cached configuration's, +
  ``approval_verdict``: the same compiled rules the orchestrator and the rule tester use) decide
  whether the action waits as a pending ``ApprovalRequest`` or is queued as an
  ``ActionExecution`` at once. The rules see the action's amount in the tenant's currency and
  the running totals (``approvals.totals``), read under the conversation's row lock and the
  customer's lock, so proposals made at the same moment are totalled one after the other. The
  same idempotency key answers with the same row: the database decides (unique constraints), a
  racing caller gets the winner. A request records the people who caused it (``ApprovalCause``):
  who asked, the creator of the key it came through, who opened the conversation (or the creator
  of the key it was opened with), who sent the message the AI answered.
- ``approval_decide``: under a lock of the request row; only a listed approver, never anyone
  who caused it, a decision is final, a quorum counts distinct people, any deny denies.
  Approval creates the execution (unique key) and sends the task after commit.
- ``execution_run``: one attempt of an execution under a lock of its row; the callable writes
  in the same transaction that marks the execution done, so a task delivered twice runs the
  callable once. The last failed attempt marks it failed, tells the conversation and hands it
  to people.
- ``approvals_expire``: the periodic sweep; also re-sends executions whose task was lost.

Side effects (socket events, e-mail, tasks) leave after commit (``approvals.notifications``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.action_registry import (
    ActionContext,
    ParamsError,
    action_names,
    get_action,
)
from agents.guardrails.access import action_allowed
from agents.rule_engine import CompiledRules, approval_verdict, rules_for
from approvals import notifications
from approvals.audit import Actor, audit_record
from approvals.models import (
    APPROVAL_STATES,
    EXECUTION_STATES,
    ActionExecution,
    ApprovalCause,
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStatus,
    AuditKind,
    CauseKind,
    ExecutionStatus,
    Verdict,
)
from approvals.selectors import approval_get, approval_json, decide_problem, execution_json
from approvals.task_names import EXECUTE_TASK
from approvals.totals import (
    Money,
    NoRate,
    customer_lock,
    money_currency,
    money_of,
    params_for_rules,
    running_totals,
)
from conversations.decisions import (
    ActionExecuted,
    ActionFailed,
    ActionProposed,
    ApprovalDecided,
    ApprovalRequested,
    GuardrailBlocked,
)
from conversations.events import record
from conversations.messages import last_activity_moved, message_post
from conversations.models import (
    Conversation,
    Message,
    MessageRole,
    State,
)
from conversations.selectors import CONVERSATION_ID
from core.compiled import INT_MARK, Compiled, Marker
from core.errors import Conflict, Forbidden, Invalid
from core.limits import MAX_REASON
from core.models import ApiKey, WebhookEventType
from core.observability.metrics import approval_decided
from core.outbox import outbox_task
from core.principals import (
    NOBODY,
    Principal,
)
from handover.services import hand_over
from rules import rule_context

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # runs of an action's callable before its execution is failed
RETRY_BASE_SECONDS = 10  # backoff: 10 s, 20 s, 40 s ... capped
RETRY_MAX_SECONDS = 300
MAX_IDEMPOTENCY_KEY = 200
SWEEP_BATCH = 500
FINAL_EXECUTION = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)

# What the customer is told, with the action in words ("refund of 130.00 EUR for order
# A-12345", ``ActionSpec.words``), never its internal name.
DENIED_TEXT = (
    "Your {what} was not approved, so it has not been carried out. "
    "We can keep looking into this together."
)
EXPIRED_TEXT = (
    "Your {what} could not be reviewed in time, so it has not been carried out. "
    "We can keep looking into this together."
)
EXECUTED_TEXT = "Your {what} was approved and has been carried out."
FAILED_TEXT = "We could not complete your {what}."


class ActionInvalid(Invalid):
    """Unknown action or bad parameters; ``errors`` maps a field path (``params.amount``) to
    what is wrong."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(fields=errors)


class ApprovalConflict(Conflict):
    """The request cannot be done in the current state (HTTP 409): already decided, expired,
    an idempotency key reused for something else, a resolved conversation."""


class ActionNotAllowed(Forbidden):
    """The proposing agent's allow-list does not name this action (HTTP 403): refused before
    the approval rules, recorded as a ``guardrail.blocked`` decision event."""

    code = "action_not_allowed"

    def __init__(self, *, action: str, agent_slug: str, allowed: list[str]):
        self.action = action
        self.agent_slug = agent_slug
        self.allowed = allowed
        shown = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"The agent {agent_slug} may not propose {action} (allowed actions: {shown})."
        )


class NotAnApprover(Forbidden):
    """This person (or key) may not decide this request (HTTP 403): an integration key, not
    a listed approver, or someone who caused it."""


@dataclass
class Proposal:
    """What the gate did: a pending (or already decided) request, or an execution."""

    approval: ApprovalRequest | None = None
    execution: ActionExecution | None = None
    created: bool = True

    @property
    def waiting(self) -> bool:
        return self.approval is not None and self.approval.status == ApprovalStatus.PENDING


# --- the gate ---------------------------------------------------------------------------------


def action_validate(action: Any, params: Any) -> dict[str, Any]:
    """The parameters, checked against the action's schema; raises ActionInvalid."""
    spec = get_action(action) if isinstance(action, str) else None
    if spec is None:
        raise ActionInvalid(
            {"action": f"unknown action '{action}' (known: {', '.join(action_names())})"}
        )
    try:
        return spec.validate_params(params if params is not None else {})
    except ParamsError as exc:
        raise ActionInvalid(
            {(k if k == "params" else f"params.{k}"): v for k, v in exc.errors.items()}
        ) from None


def gate_rule_context(conversation: Conversation) -> dict[str, Any]:
    """What approval conditions may read about the conversation when no turn of the pipeline
    gives it (the actions API): the conversation and the signals of the customer's latest
    message (``rules.rule_context``, as the pipeline builds it). The gate adds ``totals``."""
    latest = (
        Message.objects.filter(conversation=conversation, role=MessageRole.CUSTOMER)
        .order_by("-id")
        .values("intent", "sentiment", "risk")
        .first()
    ) or {}
    return rule_context(
        intent=latest.get("intent"),
        sentiment=latest.get("sentiment"),
        risk=latest.get("risk"),
        channel=conversation.channel,
        attempts=conversation.attempts,
        turns=conversation.turns,
        language=conversation.language,
        customer=conversation.customer_attributes,
        verified=conversation.customer_verified,
    )


def _check_allowed(
    *,
    conversation: Conversation,
    agent,
    action: str,
    params: dict[str, Any],
    message: Message | None,
    requested_by_label: str,
) -> None:
    allowed = getattr(agent, "allowed_actions", None)
    if action_allowed(allowed, action):
        return
    record(
        conversation=conversation,
        event=GuardrailBlocked(
            rule="tool_access",
            action=action,
            params=params,
            agent_id=agent.slug,
            allowed=list(allowed),
            requested_by=requested_by_label,
            outcome="refused",
        ),
        message=message,
        rule="tool_access",
        agent_slug=agent.slug,
    )
    raise ActionNotAllowed(action=action, agent_slug=agent.slug, allowed=list(allowed))


def _direct_key(conversation: Conversation, idempotency_key: str) -> str:
    return f"conv:{conversation.pk}:{idempotency_key}"


# the request, or the execution that needed no approval, of an idempotency key (each key is
# unique), compiled once per process
_KEY = Marker("~compiled-key~")
_REQUEST_BY_KEY = Compiled(
    lambda tenant, conversation, key: ApprovalRequest.objects.filter(
        tenant_id=tenant, conversation_id=conversation, idempotency_key=key
    ).order_by(),
    tenant=Marker(INT_MARK),
    conversation=CONVERSATION_ID,
    key=_KEY,
)
_EXECUTION_BY_KEY = Compiled(
    lambda tenant, key: ActionExecution.objects.filter(
        tenant_id=tenant, execution_key=key
    ).order_by(),
    tenant=Marker(INT_MARK),
    key=_KEY,
)


def _existing(conversation: Conversation, idempotency_key: str) -> Proposal | None:
    approval = _REQUEST_BY_KEY.first(
        tenant=conversation.tenant_id, conversation=conversation.pk, key=idempotency_key
    )
    if approval is not None:
        return Proposal(approval=approval, created=False)
    execution = _EXECUTION_BY_KEY.first(
        tenant=conversation.tenant_id, key=_direct_key(conversation, idempotency_key)
    )
    if execution is not None:
        return Proposal(execution=execution, created=False)
    return None


def _same_request(found: Proposal, action: str, params: dict[str, Any]) -> Proposal:
    row = found.approval or found.execution
    if row.action != action or _canonical(row.params) != _canonical(params):
        raise ApprovalConflict(
            "This idempotencyKey was already used for a different action or parameters."
        )
    return found


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)


def _locked(conversation: Conversation) -> None:
    """Hold the conversation's row and its customer until the transaction ends (in this
    order, as the pipeline does, so no two proposals wait for each other in a circle)."""
    list(
        Conversation.objects.select_for_update()
        .filter(pk=conversation.pk)
        .values_list("pk", flat=True)
    )
    customer_lock(conversation)


def _causes(
    conversation: Conversation, *, requested_by, requested_by_key: ApiKey | None, sent_by: Principal
) -> list[tuple[Any, str, str]]:
    """The people who caused a request, and how: ``(user, kind, key name)``, once per person
    and kind. A key stands for the person who created it."""
    key_ids = {
        k
        for k in (
            getattr(requested_by_key, "pk", None),
            conversation.opened_by_key_id,
            getattr(sent_by.key, "pk", None),
        )
        if k
    }
    keys = {k.pk: k for k in ApiKey.objects.filter(pk__in=key_ids).select_related("created_by")}
    found: list[tuple[Any, str, str]] = []

    def person(user, kind: str, key_name: str = "") -> None:
        if getattr(user, "pk", None) and all((u.pk, k) != (user.pk, kind) for u, k, _ in found):
            found.append((user, kind, key_name))

    def through(key_id, kind: str) -> None:
        key = keys.get(key_id)
        if key is not None:
            person(key.created_by, kind, key.name)

    person(requested_by, CauseKind.ASKED)
    through(getattr(requested_by_key, "pk", None), CauseKind.ASKED_KEY)
    if conversation.opened_by_id:
        person(conversation.opened_by, CauseKind.OPENED)
    through(conversation.opened_by_key_id, CauseKind.OPENED_KEY)
    person(sent_by.user, CauseKind.WROTE)
    through(getattr(sent_by.key, "pk", None), CauseKind.WROTE_KEY)
    return found


def action_propose(
    *,
    conversation: Conversation,
    action: str,
    params: Mapping[str, Any] | None,
    idempotency_key: str,
    requested_by=None,
    requested_by_key: ApiKey | None = None,
    requested_by_label: str,
    sent_by: Principal = NOBODY,
    ip: str | None = None,
    user_agent: str = "",
    context: Mapping[str, Any] | None = None,
    message: Message | None = None,
    agent_slug: str = "",
    agent=None,
    rules: CompiledRules | None = None,
    run_now: bool = False,
) -> Proposal:
    """Put a proposed action through the approval rules: it waits as a pending request, or
    it is queued to run at once (and, with ``run_now``, run once in this process after
    commit). The same ``idempotency_key`` on the conversation answers with the same request or
    execution. Raises ActionInvalid (400), ActionNotAllowed (403) or ApprovalConflict (409).

    First of all, the proposing agent (``agent``, else the conversation's current agent) must
    be allowed the action (its ``allowed_actions``): otherwise a ``guardrail.blocked`` event is
    recorded and nothing else happens (no request, no execution, no approver told).

    An action that moves money carries its currency (the tenant's when left out); one in a
    currency the tenant has no exchange rate for is refused (ActionInvalid on
    ``params.currency``). The rules see ``params.amount`` in the tenant's currency and the
    running totals (``totals.*``), read under the conversation's and the customer's locks.

    Who caused it: ``requested_by`` (a person) or ``requested_by_key`` (an integration key)
    asked; ``sent_by`` sent the customer message the AI answered with it; and whoever opened
    the conversation. None of them may decide the request.

    ``rules``: the conversation's agent's effective rules when the caller holds them already
    (the turn: from its tenant's cached configuration, where the orchestrator reads its own);
    else they are read here."""
    clean = action_validate(action, params)
    _check_allowed(
        conversation=conversation,
        agent=agent if agent is not None else conversation.current_agent,
        action=action,
        params=clean,
        message=message,
        requested_by_label=requested_by_label,
    )
    key = idempotency_key.strip() if isinstance(idempotency_key, str) else ""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ActionInvalid({"idempotencyKey": f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"})
    spec = get_action(action)
    tenant = conversation.tenant
    clean = money_currency(spec, clean, tenant)
    found = _existing(conversation, key)
    if found is not None:
        return _same_request(found, action, clean)
    if conversation.state == State.RESOLVED:
        raise ApprovalConflict("This conversation is resolved; start a new one.")
    try:
        money = money_of(spec, clean, tenant)
    except NoRate as exc:
        raise ActionInvalid({"params.currency": str(exc)}) from None
    if rules is None:
        rules = rules_for(conversation.current_agent)
    rule_ref = f"{rules.owner} v{rules.version}" if rules.owner else ""
    actor = Actor(
        label=requested_by_label,
        user=requested_by if getattr(requested_by, "pk", None) else None,
        ip=ip,
        user_agent=user_agent,
    )
    base = dict(context) if context is not None else gate_rule_context(conversation)
    with transaction.atomic():
        _locked(conversation)
        found = _existing(conversation, key)  # a twin that held the locks before us
        if found is not None:
            return _same_request(found, action, clean)
        now = timezone.now()
        totals = running_totals(conversation, now=now)
        needed, outcome = approval_verdict(
            rules, action, params_for_rules(clean, money), rule_context(**base, totals=totals)
        )
        why = list(outcome.why)
        if money is not None and money.rate is not None:
            why.append(money.explanation())
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the caller's work
                if needed:
                    row = _request_create(
                        conversation=conversation,
                        action=action,
                        params=clean,
                        key=key,
                        money=money,
                        actor=actor,
                        requested_by_key=requested_by_key,
                        requested_by_label=requested_by_label,
                        rules=rules,
                        rule_ref=rule_ref,
                        why=why,
                        now=now,
                    )
                else:
                    row = ActionExecution.objects.create(
                        tenant_id=conversation.tenant_id,
                        conversation=conversation,
                        action=action,
                        params=clean,
                        amount=money.converted if money else None,
                        execution_key=_direct_key(conversation, key),
                        idempotency_key=key,
                        requested_by_label=requested_by_label[:200],
                        created_at=now,
                        updated_at=now,
                    )
        except IntegrityError:
            found = _existing(conversation, key)
            if found is None:
                raise
            return _same_request(found, action, clean)
        causes = []
        if needed:
            causes = _causes_create(
                row,
                _causes(
                    conversation,
                    requested_by=actor.user,
                    requested_by_key=requested_by_key,
                    sent_by=sent_by,
                ),
            )
        record(
            conversation=conversation,
            event=ActionProposed(
                action=action,
                params=clean,
                agent_id=agent_slug or None,
                requested_by=requested_by_label,
                idempotency_key=key,
                approval_needed=needed,
                why=why,
                totals=totals,
            ),
            message=message,
            rule=rule_ref,
            agent_slug=agent_slug,
        )
        if needed:
            proposal = Proposal(approval=row)
            record(
                conversation=conversation,
                event=ApprovalRequested(
                    approval_id=row.pk,
                    action=action,
                    approvers=row.approvers,
                    quorum=row.quorum,
                    expires_at=row.expires_at.isoformat(),
                    caused_by=causes,
                ),
                message=message,
                rule=rule_ref,
                agent_slug=agent_slug,
            )
            audit_record(
                tenant_id=row.tenant_id,
                kind=AuditKind.REQUEST,
                actor=actor,
                approval=row,
                detail={
                    "params": clean,
                    "idempotencyKey": key,
                    "approvers": row.approvers,
                    "quorum": row.quorum,
                    "rule": rule_ref,
                    "why": why,
                    "totals": totals,
                    "causedBy": causes,
                },
            )
            notifications.notify_requested(row)
        else:
            proposal = Proposal(execution=row)
            audit_record(
                tenant_id=row.tenant_id,
                kind=AuditKind.EXECUTION,
                actor=actor,
                execution=row,
                detail={
                    "status": row.status,
                    "approvalNeeded": False,
                    "idempotencyKey": key,
                    "why": why,
                    "totals": totals,
                },
            )
            _dispatch(row)
    if run_now and proposal.execution is not None:
        proposal.execution = execution_run(execution_id=proposal.execution.pk)
    return proposal


def _request_create(
    *,
    conversation: Conversation,
    action: str,
    params: dict[str, Any],
    key: str,
    money: Money | None,
    actor: Actor,
    requested_by_key: ApiKey | None,
    requested_by_label: str,
    rules,
    rule_ref: str,
    why: list[str],
    now: dt.datetime,
) -> ApprovalRequest:
    approvals = rules.approvals or {}
    return ApprovalRequest.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        action=action,
        params=params,
        amount=money.converted if money else None,
        idempotency_key=key,
        requested_by=actor.user,
        requested_by_key=requested_by_key,
        requested_by_label=requested_by_label[:200],
        approvers=list(approvals.get("approvers") or []),
        quorum=approvals.get("quorum") or 1,
        rule=rule_ref,
        rule_detail=why,
        created_at=now,
        expires_at=now + conversation.tenant.approval_timeout,
    )


def _causes_create(
    approval: ApprovalRequest, causes: list[tuple[Any, str, str]]
) -> list[dict[str, str]]:
    """Record who caused the request; returns them for the events and the audit log."""
    rows = ApprovalCause.objects.bulk_create(
        ApprovalCause(
            tenant_id=approval.tenant_id,
            request=approval,
            user=user,
            username=user.get_username()[:150],
            kind=kind,
            key_name=key_name[:100],
        )
        for user, kind, key_name in causes
    )
    return [
        {"username": c.username, "how": c.kind, **({"key": c.key_name} if c.key_name else {})}
        for c in rows
    ]


# --- decisions --------------------------------------------------------------------------------


def approval_decide(
    *,
    approval: ApprovalRequest,
    user,
    verdict: str,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> ApprovalRequest:
    """One approver approves or denies. Raises NotAnApprover (403: an integration key, not
    a listed approver of the tenant, or someone who caused it), Invalid (400: deny without a
    reason) or ApprovalConflict (409: already decided by anyone, or by this person, or
    expired). Returns the request as it now is."""
    if verdict not in Verdict.values:
        raise Invalid(fields={"verdict": f"must be one of {', '.join(Verdict.values)}"})
    problem = decide_problem(approval, user)
    if problem:
        raise NotAnApprover(problem)
    reason = (reason or "").strip()
    if verdict == Verdict.DENY and not reason:
        raise Invalid(fields={"reason": "Give a reason to deny."})
    if len(reason) > MAX_REASON:
        raise Invalid(fields={"reason": f"At most {MAX_REASON} characters."})
    actor = Actor(label=user.get_username(), user=user, ip=ip, user_agent=user_agent)
    conflict = None
    with transaction.atomic():
        locked = ApprovalRequest.objects.select_for_update().get(pk=approval.pk)
        now = timezone.now()  # the decision's time is when it holds the lock
        if locked.status == ApprovalStatus.PENDING and locked.expires_at <= now:
            _expire(locked, now)
            conflict = "This request expired before it was decided."
        elif locked.status != ApprovalStatus.PENDING:
            conflict = f"This request is already {locked.status}; a decision is final."
        elif ApprovalDecision.objects.filter(request=locked, approver=user).exists():
            conflict = "You have already approved this request; another approver must decide."
        else:
            _decision_add(locked, user, verdict, reason, now, actor)
    if conflict:
        raise ApprovalConflict(conflict)
    return approval_get(tenant=approval.tenant_id, approval_id=approval.pk)


def _decision_add(
    approval: ApprovalRequest, user, verdict: str, reason: str, now: dt.datetime, actor: Actor
) -> None:
    ApprovalDecision.objects.create(
        tenant_id=approval.tenant_id,
        request=approval,
        approver=user,
        approver_label=user.get_username(),
        verdict=verdict,
        reason=reason,
        created_at=now,
    )
    approvals = approval.decisions.filter(verdict=Verdict.APPROVE).count()
    audit_record(
        tenant_id=approval.tenant_id,
        kind=AuditKind.DECISION,
        actor=actor,
        approval=approval,
        detail={
            "verdict": verdict,
            "reason": reason,
            "approvals": approvals,
            "quorum": approval.quorum,
        },
    )
    if verdict == Verdict.DENY:
        _finish(approval, ApprovalStatus.DENIED, now, user=user, reason=reason)
        _tell(approval.conversation_id, DENIED_TEXT.format(what=_words(approval)))
    elif approvals >= approval.quorum:
        _finish(approval, ApprovalStatus.APPROVED, now, user=user, reason=reason)
        execution = ActionExecution.objects.create(
            tenant_id=approval.tenant_id,
            request=approval,
            conversation_id=approval.conversation_id,
            action=approval.action,
            params=approval.params,
            execution_key=f"approval:{approval.pk}",
            amount=approval.amount,
            idempotency_key=approval.idempotency_key,
            requested_by_label=approval.requested_by_label,
            created_at=now,
            updated_at=now,
        )
        audit_record(
            tenant_id=approval.tenant_id,
            kind=AuditKind.EXECUTION,
            actor=actor,
            execution=execution,
            detail={"status": execution.status, "approvalNeeded": True},
        )
        _dispatch(execution)
    else:
        notifications.notify_decided(approval)  # still pending: one more approval counted


def _finish(
    approval: ApprovalRequest,
    status: str,
    now: dt.datetime,
    *,
    user=None,
    reason: str = "",
) -> None:
    """Record the final outcome of a locked pending request."""
    approval_decided(outcome=status, requested_at=approval.created_at, decided_at=now)
    APPROVAL_STATES.transition(
        approval,
        to=status,
        from_=ApprovalStatus.PENDING,
        decided_at=now,
        decided_by=user,
        reason=reason,
    )
    record(
        conversation=_conversation_ref(approval),
        event=ApprovalDecided(
            approval_id=approval.pk,
            action=approval.action,
            outcome=status,
            by=user.get_username() if user else "system",
            reason=reason,
        ),
        rule=approval.rule,
    )
    notifications.notify_decided(approval)
    notifications.approval_told(approval, WebhookEventType.APPROVAL_DECIDED)


# --- expiry -----------------------------------------------------------------------------------


def _expire(approval: ApprovalRequest, now: dt.datetime) -> bool:
    """Expire a pending request (conditional on it still being pending)."""
    timeout = approval.expires_at - approval.created_at
    reason = f"No decision within {_duration(timeout)}."
    if not APPROVAL_STATES.transition(
        approval, to=ApprovalStatus.EXPIRED, decided_at=now, reason=reason
    ):
        return False
    record(
        conversation=_conversation_ref(approval),
        event=ApprovalDecided(
            approval_id=approval.pk,
            action=approval.action,
            outcome=ApprovalStatus.EXPIRED,
            by="system",
            reason=reason,
        ),
        rule=approval.rule,
    )
    audit_record(
        tenant_id=approval.tenant_id,
        kind=AuditKind.EXPIRY,
        actor=Actor.system(),
        approval=approval,
        detail={"expiresAt": approval.expires_at.isoformat(), "reason": reason},
    )
    _tell(approval.conversation_id, EXPIRED_TEXT.format(what=_words(approval)))
    notifications.notify_decided(approval)
    notifications.approval_told(approval, WebhookEventType.APPROVAL_DECIDED)
    return True


def approvals_expire(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH) -> int:
    """Expire the pending requests past their deadline, in batches, each in its own
    transaction with ``SKIP LOCKED`` (a request being decided right now is left to its
    decider) and a conditional update, so overlapping sweeps never expire one twice. Returns
    how many were expired."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            rows = list(
                ApprovalRequest.objects.select_for_update(skip_locked=True)
                .filter(status=ApprovalStatus.PENDING, expires_at__lte=now)
                .order_by("expires_at", "id")[:batch_size]
            )
            expired += sum(_expire(row, now) for row in rows)
        if len(rows) < batch_size:
            return expired


def executions_resend(*, now: dt.datetime | None = None, batch_size: int = SWEEP_BATCH) -> int:
    """Send again the task of executions left queued (or running) for
    ``settings.EXECUTION_STALE_SECONDS``: their task was lost after the outbox relayed it (a
    worker died and the broker's redelivery did not come). Running them twice is safe."""
    now = now or timezone.now()
    with transaction.atomic():
        stale = list(
            ActionExecution.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING],
                updated_at__lt=now - dt.timedelta(seconds=settings.EXECUTION_STALE_SECONDS),
            )
            .order_by("updated_at", "id")[:batch_size]
        )
        for execution in stale:
            ActionExecution.objects.filter(pk=execution.pk).update(updated_at=now)
            _dispatch(execution)
    return len(stale)


# --- execution --------------------------------------------------------------------------------


def _dispatch(execution: ActionExecution, countdown: float | None = None) -> None:
    outbox_task(
        tenant_id=execution.tenant_id,
        task=EXECUTE_TASK,
        args=[execution.pk],
        countdown=countdown,
    )


def retry_delay(attempts: int) -> float:
    return float(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def execution_run(*, execution_id: int) -> ActionExecution:
    """One attempt at an execution; safe to call any number of times, from any number of
    workers at once: the row is locked while the callable runs, and a finished execution is
    returned as it is. A failed attempt leaves it queued (the task retries it with backoff);
    the ``MAX_ATTEMPTS``-th marks it failed."""
    now = timezone.now()
    # visible progress: "running" since now (committed at once; the attempt itself is below)
    EXECUTION_STATES.transition(
        ActionExecution.objects.filter(pk=execution_id), to=ExecutionStatus.RUNNING, updated_at=now
    )
    with transaction.atomic():
        execution = ActionExecution.objects.select_for_update(of=("self",)).get(pk=execution_id)
        if execution.status in FINAL_EXECUTION:
            return execution
        execution.attempts += 1
        spec = get_action(execution.action)
        try:
            if spec is None:
                raise LookupError(f"the action {execution.action} is no longer registered")
            with transaction.atomic():  # the callable's writes commit with "succeeded" or not
                result = spec.run(
                    ActionContext(
                        tenant_id=execution.tenant_id,
                        conversation_id=execution.conversation_id,
                        execution_id=execution.pk,
                        execution_key=execution.execution_key,
                        params=execution.params,
                    )
                )
                result = json.loads(json.dumps(result, cls=DjangoJSONEncoder))
        except Exception as exc:
            execution.error = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning(
                "action %s (execution %s) failed, attempt %s of %s: %s",
                execution.action,
                execution.pk,
                execution.attempts,
                MAX_ATTEMPTS,
                execution.error,
            )
            if execution.attempts >= MAX_ATTEMPTS:
                _execution_failed(execution)
            else:
                EXECUTION_STATES.transition(
                    execution,
                    to=ExecutionStatus.QUEUED,
                    attempts=execution.attempts,
                    error=execution.error,
                    updated_at=timezone.now(),
                )
            return execution
        _execution_succeeded(execution, result)
    return execution


def _execution_succeeded(execution: ActionExecution, result: Any) -> None:
    now = timezone.now()
    EXECUTION_STATES.transition(
        execution,
        to=ExecutionStatus.SUCCEEDED,
        attempts=execution.attempts,
        result=result,
        error="",
        finished_at=now,
        updated_at=now,
    )
    conversation = _conversation_ref(execution)
    record(
        conversation=conversation,
        event=ActionExecuted(
            execution_id=execution.pk,
            approval_id=execution.request_id,
            action=execution.action,
            attempts=execution.attempts,
            result=result,
        ),
    )
    audit_record(
        tenant_id=execution.tenant_id,
        kind=AuditKind.EXECUTION,
        actor=Actor.system("worker"),
        execution=execution,
        detail={"status": execution.status, "attempts": execution.attempts, "result": result},
    )
    if execution.request_id:
        approval = _approval_moved(execution, ApprovalStatus.EXECUTED)
        if approval is not None:
            _tell(conversation.pk, EXECUTED_TEXT.format(what=_words(execution)))


def _execution_failed(execution: ActionExecution) -> None:
    now = timezone.now()
    EXECUTION_STATES.transition(
        execution,
        to=ExecutionStatus.FAILED,
        attempts=execution.attempts,
        error=execution.error,
        finished_at=now,
        updated_at=now,
    )
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("tenant", "current_agent")
        .get(pk=execution.conversation_id)
    )
    record(
        conversation=conversation,
        event=ActionFailed(
            execution_id=execution.pk,
            approval_id=execution.request_id,
            action=execution.action,
            attempts=execution.attempts,
            error=execution.error,
        ),
    )
    audit_record(
        tenant_id=execution.tenant_id,
        kind=AuditKind.EXECUTION,
        actor=Actor.system("worker"),
        execution=execution,
        detail={
            "status": execution.status,
            "attempts": execution.attempts,
            "error": execution.error,
        },
    )
    if execution.request_id:
        _approval_moved(execution, ApprovalStatus.FAILED)
    _tell(conversation.pk, FAILED_TEXT.format(what=_words(execution)))
    hand_over(conversation=conversation, reason=f"action {execution.action} failed")


def _approval_moved(execution: ActionExecution, status: str) -> ApprovalRequest | None:
    """An approved request follows its execution's outcome (executed or failed)."""
    if not APPROVAL_STATES.transition(
        ApprovalRequest.objects.filter(pk=execution.request_id), to=status
    ):
        return None
    approval = ApprovalRequest(
        pk=execution.request_id,
        tenant_id=execution.tenant_id,
        conversation_id=execution.conversation_id,
        status=status,
    )
    notifications.notify_decided(approval)
    return approval


def _conversation_ref(row: ApprovalRequest | ActionExecution) -> Conversation:
    """The row's conversation, by id only (enough to record an event on it), without a
    query."""
    return Conversation(pk=row.conversation_id, tenant_id=row.tenant_id)


# --- the conversation -------------------------------------------------------------------------


def _words(row: ApprovalRequest | ActionExecution) -> str:
    """The row's action in the customer's words, with its amount and currency."""
    spec = get_action(row.action)
    return spec.words(row.params) if spec else row.action.replace("_", " ")


def _tell(conversation_id, text: str) -> Message:
    """A system message to the customer (and to the person with them)."""
    conversation = Conversation.objects.only("pk", "tenant_id", "state").get(pk=conversation_id)
    message = message_post(conversation=conversation, role=MessageRole.SYSTEM, text=text)
    last_activity_moved(conversation.pk, message.created_at)
    return message


def _duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0 and seconds:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0 and seconds:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def proposal_json(proposal: Proposal) -> dict[str, Any]:
    """The actions API's answer body: ``{"approval": ...}`` or ``{"execution": ...}``."""

    if proposal.approval is not None:
        approval = approval_get(
            tenant=proposal.approval.tenant_id, approval_id=proposal.approval.pk
        )
        return {"approval": approval_json(approval)}
    return {"execution": execution_json(proposal.execution)}
