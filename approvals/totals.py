"""Money and running totals for the approval rules (README "Approvals").

- Amounts: an action that moves money (``ActionSpec.total``) has ``params.amount`` in
  ``params.currency`` (the tenant's currency when left out). ``money_of`` converts it into the
  tenant's currency with the exchange rates the tenant set (``ExchangeRate``); a currency
  without a rate is refused (``NoRate``), so a threshold in EUR never lets 99 BTC through.
- Totals: ``running_totals`` sums in the database what the conversation, and the same customer
  (the same ``customer_ref`` in the tenant) over the last 24 hours, already have: actions that
  ran, run or wait to run (executions that needed no approval, unless failed) and requests that
  wait for approval or were approved (pending, approved, executed). Denied, expired and failed
  ones do not count, nor does the action being proposed (rules add it: ``params.amount +
  totals.refunded_24h > 100``). Amounts are in the tenant's currency as converted when each
  action was proposed.
- Locks: ``customer_lock`` serialises the proposals of one customer. The gate takes the
  conversation's row lock, then this lock, then reads the totals and writes the request, all
  in one transaction: two refunds proposed at the same moment are totalled one after the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum

from agents.action_registry import (
    ACTIONS,
    ActionSpec,
    number,
    totals_from,
)
from approvals.models import (
    AMOUNT_PLACES,
    ActionExecution,
    ApprovalRequest,
    ApprovalStatus,
    ExchangeRate,
    ExecutionStatus,
)
from conversations.models import Conversation
from conversations.selectors import CONVERSATION_ID
from core.compiled import DATETIME_MARK, INT_MARK, Compiled, Marker
from core.models import Tenant
from rules.schema import WINDOW as WINDOW_SUFFIX

WINDOW = dt.timedelta(hours=24)
COUNTED_REQUESTS = (ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED)
_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


class NoRate(ValueError):
    """The tenant has no exchange rate for the action's currency."""


@dataclass(frozen=True)
class Money:
    """An action's amount: as given, and in the tenant's currency."""

    amount: Any  # as given (a JSON number)
    currency: str  # as given (upper case), the tenant's when the action named none
    converted: Decimal  # in the tenant's currency
    tenant_currency: str
    rate: Decimal | None  # None: the amount was in the tenant's currency

    def explanation(self) -> str:
        """A sentence for the request's "why" (only when the amount was converted)."""
        converted = f"{self.converted.normalize():f}"
        return (
            f"params.amount is {converted} {self.tenant_currency}: {self.amount} "
            f"{self.currency} at the tenant's rate of {self.rate.normalize():f}"
        )


def money_currency(spec: ActionSpec, params: dict[str, Any], tenant: Tenant) -> dict[str, Any]:
    """The parameters with the currency of a money action made explicit (upper case; the
    tenant's currency when left out), so the request says what it moves."""
    if not spec.total:
        return params
    currency = params.get("currency")
    currency = currency.strip().upper() if isinstance(currency, str) else tenant.currency
    return {**params, "currency": currency}


def money_of(spec: ActionSpec, params: dict[str, Any], tenant: Tenant) -> Money | None:
    """The amount of a money action in the tenant's currency (None for other actions).
    Raises NoRate for a currency the tenant has no exchange rate for."""
    if not spec.total:
        return None
    currency = params["currency"]
    try:
        amount = Decimal(str(params["amount"]))
    except (InvalidOperation, ValueError):  # the schema checked it is a finite number
        raise NoRate("the amount is not a number") from None
    if currency == tenant.currency:
        return Money(params["amount"], currency, _quantize(amount), tenant.currency, None)
    rate = (
        ExchangeRate.objects.filter(tenant=tenant, currency=currency)
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise NoRate(
            f"this tenant has no exchange rate for {currency[:10]}; its amounts are in "
            f"{tenant.currency} (a manager adds rates in the admin, Exchange rates)"
        )
    return Money(params["amount"], currency, _quantize(amount * rate), tenant.currency, rate)


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def customer_lock(conversation: Conversation) -> None:
    """Serialise the proposals of this conversation's customer until the end of the current
    transaction. PostgreSQL: an advisory transaction lock on the tenant and customer. SQLite
    needs none: its transactions here are IMMEDIATE, so writers run one at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"approvals.customer:{conversation.tenant_id}:{conversation.customer_ref}"],
        )


def _grouped(rows: Callable[[int], QuerySet]) -> Compiled:
    """``rows(tenant)`` (the counted rows of one table) grouped by action: the conversation's
    (``n``, ``money``) and the same customer's over the window (``n_24h``, ``money_24h``), in
    one query compiled once per process (compiling it cost more CPU than running it)."""

    def build(tenant: int, conversation: Any, customer: str, since: dt.datetime) -> QuerySet:
        mine = Q(conversation_id=conversation)
        recent = Q(
            conversation__tenant_id=tenant,
            conversation__customer_ref=customer,
            created_at__gte=since,
        )
        return (
            rows(tenant)
            .filter(mine | recent)
            .values("action")
            .annotate(
                n=Count("id", filter=mine),
                money=Sum("amount", filter=mine),
                n_24h=Count("id", filter=recent),
                money_24h=Sum("amount", filter=recent),
            )
            .order_by()
        )

    return Compiled(
        build,
        tenant=Marker(INT_MARK),
        conversation=CONVERSATION_ID,
        customer=Marker("~compiled-customer~"),
        since=Marker(DATETIME_MARK, ApprovalRequest._meta.get_field("created_at")),
    )


# what counts: requests waiting or approved, executions that needed no approval and did not fail
_REQUESTS = _grouped(
    lambda tenant: ApprovalRequest.objects.filter(tenant_id=tenant, status__in=COUNTED_REQUESTS)
)
_EXECUTIONS = _grouped(
    lambda tenant: ActionExecution.objects.filter(tenant_id=tenant, request__isnull=True).exclude(
        status=ExecutionStatus.FAILED
    )
)


def running_totals(conversation: Conversation, *, now: dt.datetime) -> dict[str, Any]:
    """The totals an approval condition reads (``totals.*``), from the rows already there:
    two grouped queries, whatever the number of actions."""
    values = {
        "tenant": conversation.tenant_id,
        "conversation": conversation.pk,
        "customer": conversation.customer_ref,
        "since": now - WINDOW,
    }
    rows = _REQUESTS.rows(**values) + _EXECUTIONS.rows(**values)
    count = dict.fromkeys(ACTIONS, 0)
    count_24h = dict.fromkeys(ACTIONS, 0)
    money: dict[str, Decimal] = {}
    money_24h: dict[str, Decimal] = {}
    for action, n, amount, n_24h, amount_24h in rows:
        count[action] = count.get(action, 0) + n
        count_24h[action] = count_24h.get(action, 0) + n_24h
        spec = ACTIONS.get(action)
        if spec is not None and spec.total:
            name = spec.total
            money[name] = money.get(name, Decimal(0)) + (amount or 0)
            money_24h[name] = money_24h.get(name, Decimal(0)) + (amount_24h or 0)
    flat: dict[str, Any] = {}
    for spec in ACTIONS.values():
        if spec.total:
            flat[spec.total] = money.get(spec.total, 0)
            flat[f"{spec.total}{WINDOW_SUFFIX}"] = money_24h.get(spec.total, 0)
    flat["actions"] = sum(count.values())
    flat[f"actions{WINDOW_SUFFIX}"] = sum(count_24h.values())
    flat.update({f"count.{a}": n for a, n in count.items()})
    flat.update({f"count{WINDOW_SUFFIX}.{a}": n for a, n in count_24h.items()})
    return totals_from(flat)


def params_for_rules(params: dict[str, Any], money: Money | None) -> dict[str, Any]:
    """The parameters as approval conditions see them: ``params.amount`` in the tenant's
    currency (``params.currency`` stays as given)."""
    if money is None:
        return params
    return {**params, "amount": number(money.converted)}
