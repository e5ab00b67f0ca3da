"""Pages of approvals (SPEC 7, 8): the approver's live queue with its history, one request's
detail, and the approve and deny buttons.

Thin edges: each view checks who may look, reads through ``approvals.selectors`` (the history
query below is the page's own filter over the same rows), or calls ``approval_decide`` with the
request's address and user agent, and renders. The queue is server-rendered and kept live by
``static/approvals/approvals.js``: on ``approval.requested`` / ``approval.decided`` from
``/ws/inbox/`` (and on every snapshot, so a reconnect re-syncs) it re-fetches the fragments
served here; a fragment is the same template the page includes, so there is one markup.

Who may open the pages: the permission matrix's page rows (``page_door``): people of a tenant
who hold the approver role or belong to one of its approver groups; anyone else gets a 403
page. Another tenant's request is
a 404. Times are shown in the tenant's time zone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents.action_registry import (
    action_names,
    get_action,
)
from agents.models import Agent
from approvals.audit import client_address
from approvals.models import ApprovalRequest, ApprovalStatus, AuditLog, Verdict
from approvals.selectors import (
    approval_get,
    approval_transcript,
    approvals_pending_for,
    decide_problem,
    execution_of,
    origin_text,
)
from approvals.services import approval_decide
from core.api_errors import domain_status
from core.dates import DateInRangeField
from core.errors import DomainError, Invalid
from core.limits import MAX_REASON
from core.models import (
    Membership,
    Tenant,
)
from core.permissions import page_door
from core.scoping import membership_of

HISTORY_PAGE_SIZE = 25
WAITING_ON_OTHERS = 20
CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
DECIDED = [s for s in ApprovalStatus.values if s != ApprovalStatus.PENDING]
STATUS_HELP = {
    ApprovalStatus.PENDING: "Waiting for a decision",
    ApprovalStatus.APPROVED: "Approved; being carried out",
    ApprovalStatus.DENIED: "Denied; nothing was carried out",
    ApprovalStatus.EXPIRED: "Nobody decided in time; nothing was carried out",
    ApprovalStatus.EXECUTED: "Approved and carried out",
    ApprovalStatus.FAILED: "Approved, but carrying it out failed",
}


# --- who may look -------------------------------------------------------------------------------


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "approvals/forbidden.html", status=403)


# --- how a request reads ------------------------------------------------------------------------


def _money(amount: Any, currency: str | None) -> str:
    code = (currency or "EUR").upper()
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return f"{amount} {code}"
    text = f"{value:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code}"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)


def _humanize(name: str) -> str:
    spaced = "".join(f" {c.lower()}" if c.isupper() else c for c in name).replace("_", " ")
    return spaced.strip().capitalize()


def describe(action: str, params: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]]]:
    """``(title, summary, rows)`` of a proposed action, as a person reads it: ``("Refund",
    "Refund €249.99 for order A-12345", [("Order", "A-12345"), ("Amount", "€249.99")])``."""
    params = params if isinstance(params, dict) else {}
    if action == "issue_refund":
        money = _money(params.get("amount"), params.get("currency"))
        order = _value(params.get("orderId", "?"))
        return (
            "Refund",
            f"Refund {money} for order {order}",
            [("Order", order), ("Amount", money)],
        )
    if action == "modify_account":
        changes = params.get("changes") if isinstance(params.get("changes"), dict) else {}
        rows = [(_humanize(k), _value(v)) for k, v in sorted(changes.items())]
        names = ", ".join(label.lower() for label, _ in rows) or "nothing"
        return "Account change", f"Change {names} on the account", rows
    if action == "access_sensitive_data":
        field_name = _value(params.get("field", "?"))
        rows = [("Field", field_name)]
        if params.get("reason"):
            rows.append(("Stated reason", _value(params["reason"])))
        return "Sensitive data", f"Read the customer's {field_name}", rows
    spec = get_action(action)
    title = _humanize(action)
    rows = [(_humanize(k), _value(v)) for k, v in sorted(params.items())]
    return title, spec.description.rstrip(".") if spec else title, rows


_WHY_LINE = re.compile(
    r"^(?P<indent>\s*)(?P<result>true |false)  (?P<source>.*?)(?:  \((?P<detail>.*)\))?$"
)


@dataclass(frozen=True)
class Why:
    """One line of a rule's explanation: ``params.amount > 100`` held (``params.amount is
    249.99``)."""

    text: str
    detail: str = ""
    held: bool | None = None  # None: a plain sentence ("modify_account always needs approval")
    depth: int = 0


def why_lines(lines: Any) -> list[Why]:
    """The stored explanation (``rule_detail``), read into conditions and their values."""
    found = []
    for line in lines if isinstance(lines, list) else []:
        match = _WHY_LINE.match(str(line))
        if match is None:
            found.append(Why(text=str(line).strip()))
            continue
        found.append(
            Why(
                text=match["source"],
                detail=match["detail"] or "",
                held=match["result"] == "true ",
                depth=len(match["indent"]) // 2,
            )
        )
    return found


def _requester(label: str, agents: dict[str, str]) -> str:
    if label.startswith("agent:"):
        slug = label.removeprefix("agent:")
        return f"{agents.get(slug, slug)} (AI agent)"
    if label.startswith("api-key:"):
        return f"Integration “{label.removeprefix('api-key:')}”"
    return label or "unknown"


def _agent_names(tenant: Tenant) -> dict[str, str]:
    return dict(Agent.objects.filter(tenant=tenant).values_list("slug", "name"))


def compact(delta: dt.timedelta) -> str:
    """A short duration as the pages (and their script) write it: "4 min", "2 h 5 min",
    "3 d 4 h"."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass
class Card:
    """One request as the pages show it (built from rows already fetched: no query)."""

    approval: ApprovalRequest
    title: str
    summary: str
    rows: list[tuple[str, str]]
    customer: str
    requester: str
    approvals: int
    decisions: list[Any] = field(default_factory=list)
    execution: Any = None

    @property
    def id(self) -> int:
        return self.approval.pk

    @property
    def quorum_percent(self) -> int:
        return min(100, round(100 * self.approvals / max(1, self.approval.quorum)))

    @property
    def why(self) -> list[Why]:
        return why_lines(self.approval.rule_detail)

    @property
    def missing(self) -> int:
        return max(0, self.approval.quorum - self.approvals)

    @property
    def age(self) -> str:
        age = timezone.now() - self.approval.created_at
        return "just now" if age < dt.timedelta(minutes=1) else f"{compact(age)} ago"

    @property
    def expires_in(self) -> str:
        left = self.approval.expires_at - timezone.now()
        return "expiring now" if left.total_seconds() <= 0 else f"expires in {compact(left)}"

    @property
    def urgency(self) -> str:
        left = (self.approval.expires_at - timezone.now()).total_seconds()
        return "urgent" if left < 15 * 60 else "soon" if left < 60 * 60 else ""

    @property
    def deciders(self) -> str:
        return ", ".join(d.approver_label for d in self.decisions)


def _card(approval: ApprovalRequest, agents: dict[str, str]) -> Card:
    title, summary, rows = describe(approval.action, approval.params)
    conversation = approval.conversation
    decisions = sorted(approval.decisions.all(), key=lambda d: (d.created_at, d.pk))
    return Card(
        approval=approval,
        title=title,
        summary=summary,
        rows=rows,
        customer=conversation.customer_display,
        requester=_requester(approval.requested_by_label, agents),
        approvals=sum(1 for d in decisions if d.verdict == Verdict.APPROVE),
        decisions=decisions,
        execution=execution_of(approval),
    )


# --- the queue and its history ------------------------------------------------------------------


class HistoryFilter(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any outcome")]
        + [(s, label) for s, label in ApprovalStatus.choices if s != ApprovalStatus.PENDING],
    )
    action = forms.ChoiceField(required=False)
    since = DateInRangeField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = DateInRangeField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action")] + [
            (name, describe(name, {})[0]) for name in action_names()
        ]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data


def _day_start(day: dt.date, tenant: Tenant) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tenant.tzinfo)


def _history(tenant: Tenant, form: HistoryFilter) -> QuerySet[ApprovalRequest]:
    """The tenant's decided, expired, executed and failed requests, latest decision first,
    narrowed by the filter's valid fields."""
    queryset = ApprovalRequest.objects.filter(tenant=tenant, status__in=DECIDED)
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("status"):
        queryset = queryset.filter(status=data["status"])
    if data.get("action"):
        queryset = queryset.filter(action=data["action"])
    if data.get("since"):
        queryset = queryset.filter(decided_at__gte=_day_start(data["since"], tenant))
    if data.get("until"):
        queryset = queryset.filter(
            decided_at__lt=_day_start(data["until"] + dt.timedelta(days=1), tenant)
        )
    return (
        queryset.select_related("conversation", "requested_by", "decided_by", "execution")
        .prefetch_related("decisions", "causes")
        .order_by("-decided_at", "-id")
    )


def _waiting_on_others(user, tenant: Tenant) -> list[ApprovalRequest]:
    """Pending requests this person cannot decide now but is part of: they approved and the
    quorum needs more, or they caused it (asked for it, opened its conversation...)."""
    matching = ApprovalRequest.objects.filter(
        tenant=tenant, status=ApprovalStatus.PENDING, expires_at__gt=timezone.now()
    ).filter(Q(decisions__approver=user) | Q(requested_by=user) | Q(causes__user=user))
    return list(
        ApprovalRequest.objects.filter(pk__in=matching.values("pk"))
        .select_related("conversation", "requested_by", "decided_by", "execution")
        .prefetch_related("decisions", "causes")
        .order_by("expires_at", "id")[:WAITING_ON_OTHERS]
    )


def _pending_context(request: HttpRequest, tenant: Tenant, agents: dict[str, str]) -> dict:
    return {
        "pending": [_card(a, agents) for a in approvals_pending_for(request.user)],
        "waiting": [_card(a, agents) for a in _waiting_on_others(request.user, tenant)],
    }


def _history_context(request: HttpRequest, tenant: Tenant, agents: dict[str, str]) -> dict:
    form = HistoryFilter(request.GET or None)
    page = Paginator(_history(tenant, form), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "filter": form,
        "filtered": any(request.GET.get(name) for name in form.fields),
        "page": page,
        "history": [_card(a, agents) for a in page.object_list],
        "query": query.urlencode(),
    }


@page_door(forbidden=_forbidden)
@require_GET
def approval_index(request: HttpRequest) -> HttpResponse:
    membership = membership_of(request.user)
    tenant = membership.tenant
    agents = _agent_names(tenant)
    with timezone.override(tenant.tzinfo):
        return render(
            request,
            "approvals/index.html",
            {
                "tenant": tenant,
                **_pending_context(request, tenant, agents),
                **_history_context(request, tenant, agents),
                "config": {
                    "socketPath": "/ws/inbox/",
                    "pendingUrl": reverse("approvals-pending"),
                    "historyUrl": reverse("approvals-history"),
                    "pollSeconds": 15,
                },
            },
        )


@page_door(forbidden=_forbidden)
@require_GET
def approval_pending_fragment(request: HttpRequest) -> HttpResponse:
    """The queue's pending part, for the live page to swap in."""
    membership = membership_of(request.user)
    tenant = membership.tenant
    with timezone.override(tenant.tzinfo):
        return render(
            request,
            "approvals/_pending.html",
            _pending_context(request, tenant, _agent_names(tenant)),
        )


@page_door(forbidden=_forbidden)
@require_GET
def approval_history_fragment(request: HttpRequest) -> HttpResponse:
    """The history part (same filters and page as the query string), for the live page."""
    membership = membership_of(request.user)
    tenant = membership.tenant
    with timezone.override(tenant.tzinfo):
        return render(
            request,
            "approvals/_history.html",
            _history_context(request, tenant, _agent_names(tenant)),
        )


# --- one request --------------------------------------------------------------------------------


def _transcript(approval: ApprovalRequest, agents: dict[str, str]) -> tuple[list[dict], bool]:
    """The conversation's latest messages (AI agents by name), with a marker before the first
    one written after the request was made (where the action was proposed); the boolean says
    the marker goes after them all."""
    messages_ = approval_transcript(approval)
    marked = False
    for message in messages_:
        message["marker"] = False
        if message["role"] == "agent":
            message["author"] = agents.get(message["author"], message["author"])
        if not marked and message["createdAt"] > approval.created_at:
            message["marker"] = marked = True
    return messages_, not marked


def _activity(approval: ApprovalRequest) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(tenant_id=approval.tenant_id, approval_id=approval.pk).order_by(
            "created_at", "id"
        )
    )


def _result_rows(result: Any) -> list[tuple[str, str]]:
    if isinstance(result, dict):
        return [(_humanize(k), _value(v)) for k, v in result.items()]
    return [] if result is None else [("Result", _value(result))]


def _detail_context(
    request: HttpRequest, approval: ApprovalRequest, *, form_error: str = "", reason: str = ""
) -> dict[str, Any]:
    tenant = approval.tenant
    agents = _agent_names(tenant)
    card = _card(approval, agents)
    transcript, marker_last = _transcript(approval, agents)
    problem = decide_problem(approval, request.user)
    mine = next((d for d in card.decisions if d.approver_id == request.user.pk), None)
    can_decide = (
        approval.status == ApprovalStatus.PENDING
        and approval.expires_at > timezone.now()
        and problem is None
        and mine is None
    )
    conversation = approval.conversation
    return {
        "tenant": tenant,
        "card": card,
        "approval": approval,
        "conversation": conversation,
        "status_help": STATUS_HELP.get(approval.status, ""),
        "spec": get_action(approval.action),
        "params_json": json.dumps(
            approval.params, indent=2, sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=False
        ),
        "transcript": transcript,
        "marker_last": marker_last,
        "activity": _activity(approval),
        "result_rows": _result_rows(card.execution.result if card.execution else None),
        "can_decide": can_decide,
        "problem": problem if approval.status == ApprovalStatus.PENDING else None,
        "origin": origin_text(approval, agents),
        "my_decision": mine,
        "form_error": form_error,
        "reason": reason,
        "max_reason": MAX_REASON,
        "config": {
            "socketPath": "/ws/inbox/",
            "approvalId": approval.pk,
            "bodyUrl": reverse("approval-body", args=[approval.pk]),
            "pollSeconds": 15,
        },
    }


def _tenant_approval(membership: Membership, approval_id: int) -> ApprovalRequest:
    try:
        approval = approval_get(tenant=membership.tenant, approval_id=approval_id)
    except ApprovalRequest.DoesNotExist:
        raise Http404("No such approval request.") from None
    approval.tenant = membership.tenant  # the same row: saves a query in the templates
    return approval


@page_door(forbidden=_forbidden)
@require_GET
def approval_detail(request: HttpRequest, approval_id: int) -> HttpResponse:
    membership = membership_of(request.user)
    approval = _tenant_approval(membership, approval_id)
    with timezone.override(membership.tenant.tzinfo):
        return render(request, "approvals/detail.html", _detail_context(request, approval))


@page_door(forbidden=_forbidden)
@require_GET
def approval_body_fragment(request: HttpRequest, approval_id: int) -> HttpResponse:
    """The detail's body (transcript, decision panel, facts), for the live page."""
    membership = membership_of(request.user)
    approval = _tenant_approval(membership, approval_id)
    with timezone.override(membership.tenant.tzinfo):
        return render(request, "approvals/_detail_body.html", _detail_context(request, approval))


def _decided_message(approval: ApprovalRequest, verdict: str, summary: str) -> str:
    if verdict == Verdict.DENY:
        return f"Denied #{approval.pk} · {summary}. The customer has been told."
    if approval.status == ApprovalStatus.PENDING:
        missing = approval.quorum - sum(
            1 for d in approval.decisions.all() if d.verdict == Verdict.APPROVE
        )
        return (
            f"Your approval of #{approval.pk} is recorded · {summary}. "
            f"{missing} more approval{'s' if missing != 1 else ''} needed."
        )
    if approval.status == ApprovalStatus.EXECUTED:
        return f"Approved and carried out #{approval.pk} · {summary}."
    if approval.status == ApprovalStatus.FAILED:
        return f"Approved #{approval.pk} · {summary}, but carrying it out failed."
    return f"Approved #{approval.pk} · {summary}. It is being carried out."


def _decide(request: HttpRequest, approval_id: int, verdict: str) -> HttpResponse:
    membership = membership_of(request.user)
    approval = _tenant_approval(membership, approval_id)
    reason = request.POST.get("reason", "")
    ip, user_agent = client_address(request)
    tz = membership.tenant.tzinfo
    try:
        decided = approval_decide(
            approval=approval,
            user=request.user,
            verdict=verdict,
            reason=reason,
            ip=ip,
            user_agent=user_agent,
        )
    except Invalid as exc:
        with timezone.override(tz):
            context = _detail_context(
                request,
                approval,
                form_error=" ".join(
                    exc.fields.get("reason") or [m for ms in exc.fields.values() for m in ms]
                ),
                reason=reason,
            )
            return render(request, "approvals/detail.html", context, status=400)
    except DomainError as exc:  # not an approver of it (403), already decided (409)
        messages.error(request, exc.message)
        current = _tenant_approval(membership, approval_id)
        with timezone.override(tz):
            return render(
                request,
                "approvals/detail.html",
                _detail_context(request, current),
                status=domain_status(exc),
            )
    decided.tenant = membership.tenant
    summary = describe(decided.action, decided.params)[1]
    messages.success(request, _decided_message(decided, verdict, summary))
    return redirect("approvals")


@page_door(forbidden=_forbidden)
@require_POST
def approval_approve(request: HttpRequest, approval_id: int) -> HttpResponse:
    return _decide(request, approval_id, Verdict.APPROVE)


@page_door(forbidden=_forbidden)
@require_POST
def approval_deny(request: HttpRequest, approval_id: int) -> HttpResponse:
    return _decide(request, approval_id, Verdict.DENY)
