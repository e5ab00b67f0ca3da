"""The demo actions' callables (named by ``agents.action_registry``). They do nothing outside the
product: each writes one ledger row per execution key, so the execution can be seen and a
second run with the same key adds nothing."""

from __future__ import annotations

from typing import Any

from agents.action_registry import ActionContext
from approvals.models import LedgerEntry
from core.models import Tenant


def _ledger(context: ActionContext, action: str) -> tuple[LedgerEntry, bool]:
    return LedgerEntry.objects.get_or_create(
        execution_key=context.execution_key,
        defaults={
            "tenant_id": context.tenant_id,
            "conversation_id": context.conversation_id,
            "action": action,
            "params": dict(context.params),
        },
    )


def issue_refund(context: ActionContext) -> dict[str, Any]:
    entry, _ = _ledger(context, "issue_refund")
    params = context.params
    return {
        "ledgerEntryId": entry.pk,
        "refundId": f"rf_{entry.pk}",
        "orderId": params["orderId"],
        "amount": params["amount"],
        # the gate writes the currency into every request since amounts carry one; a request
        # older than that was in the tenant's currency
        "currency": params.get("currency")
        or Tenant.objects.values_list("currency", flat=True).get(pk=context.tenant_id),
    }


def modify_account(context: ActionContext) -> dict[str, Any]:
    entry, _ = _ledger(context, "modify_account")
    return {"ledgerEntryId": entry.pk, "changed": sorted(context.params["changes"])}


def access_sensitive_data(context: ActionContext) -> dict[str, Any]:
    entry, _ = _ledger(context, "access_sensitive_data")
    return {"ledgerEntryId": entry.pk, "field": context.params["field"], "granted": True}
