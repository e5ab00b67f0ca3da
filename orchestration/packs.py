"""The handoff pack (SPEC 4.5): what a person needs to pick a conversation up cold.

Summary, key details (order ids, amounts, e-mail addresses, dates), the sentiment trend,
suggested next steps drawn from the intent and the rules ("a refund over 100 needs approval"),
and the transcript; plus the priority it is queued by (risk, sentiment, waiting time)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from django.db import transaction

from agents.rule_engine import rules_for
from conversations.messages import message_json
from conversations.models import (
    Message,
    MessageRole,
)
from core.events import (
    notify_on_commit,
    tenant_inbox_group,
)
from handover.models import Handoff, HandoffPack
from handover.services import priority_for

ORDER_ID = re.compile(
    r"\b(?:order|ord|invoice|inv|ticket|case)?\s*#?\s*([A-Z]{1,5}-?\d{3,}|\d{5,})\b", re.I
)
AMOUNT = re.compile(
    r"(?:(?P<cur1>[$€£])\s?(?P<n1>\d+(?:[.,]\d{1,2})?))|(?:(?P<n2>\d+(?:[.,]\d{1,2})?)\s?(?P<cur2>eur|euros?|usd|dollars?|gbp|pounds?))",
    re.I,
)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
DATE = re.compile(
    r"\b(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{2,4}|(?:\d{1,2}\s)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:\s\d{1,2})?(?:,?\s\d{4})?)\b",
    re.I,
)
NEXT_STEPS = {
    "billing": "Check the customer's recent invoices and payments for the charge in question.",
    "refund": "Look up the order and decide on the refund.",
    "returns": "Confirm the return window and send a return label.",
    "shipping": "Check the carrier's tracking for the order.",
    "technical": "Reproduce the problem or collect the error message and app version.",
    "account": "Verify the customer's identity before changing the account.",
    "cancellation": "Ask why they want to leave; a retention offer may help.",
    "human_agent": "The customer asked for a person: acknowledge that first.",
}
RISK_STEPS = {
    "legal_threat": "A legal threat was made: stay factual and involve a team lead.",
    "churn_risk": "The customer may leave: consider a retention offer.",
    "frustration": "The customer is frustrated: apologise and give a clear next step.",
}


def key_details(texts: list[str]) -> dict[str, list[str]]:
    joined = "\n".join(texts)
    amounts = []
    for match in AMOUNT.finditer(joined):
        currency = match.group("cur1") or match.group("cur2")
        number = match.group("n1") or match.group("n2")
        amounts.append(f"{currency}{number}" if match.group("cur1") else f"{number} {currency}")
    return {
        "orderIds": sorted({m.group(1).upper() for m in ORDER_ID.finditer(joined)}),
        "amounts": list(dict.fromkeys(amounts)),
        "emails": sorted({m.group(0).lower() for m in EMAIL.finditer(joined)}),
        "dates": list(dict.fromkeys(m.group(0) for m in DATE.finditer(joined))),
    }


def sentiment_trend(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"values": [], "first": None, "last": None, "trend": "unknown"}
    first, last = values[0], values[-1]
    trend = "steady"
    if last - first <= -0.2:
        trend = "worsening"
    elif last - first >= 0.2:
        trend = "improving"
    return {"values": [round(v, 3) for v in values], "first": first, "last": last, "trend": trend}


def suggestions_for(intent: str | None, risks: set[str], conversation) -> list[str]:
    steps = []
    if intent in NEXT_STEPS:
        steps.append(NEXT_STEPS[intent])
    steps.extend(RISK_STEPS[r] for r in sorted(risks) if r in RISK_STEPS)
    rules = rules_for(conversation.current_agent)
    approvals = rules.approvals or {}
    for item in approvals.get("actions", []) if approvals.get("required") else []:
        when = f" when {item['when']}" if item.get("when") else ""
        steps.append(f"{item['action']}{when} needs approval.")
    return steps


def summary_for(customer_texts: list[str], intents: Counter, reason: str) -> str:
    topic = ", ".join(i for i, _ in intents.most_common(2)) or "no clear topic"
    opening = customer_texts[0] if customer_texts else ""
    if len(opening) > 160:
        opening = opening[:157] + "..."
    return (
        f"{len(customer_texts)} customer message(s) about {topic}. "
        f"Handed over because: {reason}. First message: \u201c{opening}\u201d"
    )


@transaction.atomic
def pack_build(*, handoff_id: int) -> HandoffPack | None:
    """Build (or rebuild) the pack of a handoff and set its priority. Idempotent."""
    handoff = (
        Handoff.objects.select_for_update(of=("self",))
        .select_related("conversation__current_agent", "conversation__tenant")
        .filter(pk=handoff_id)
        .first()
    )
    if handoff is None:
        return None
    conversation = handoff.conversation
    messages = list(Message.objects.filter(conversation=conversation).order_by("id"))
    customer = [m for m in messages if m.role == MessageRole.CUSTOMER]
    texts = [m.text for m in customer]
    intents = Counter(m.intent for m in customer if m.intent)
    risks = {r for m in customer for r in (m.risk or [])}
    trend = sentiment_trend([m.sentiment for m in customer if m.sentiment is not None])
    last_intent = next((m.intent for m in reversed(customer) if m.intent), None)
    pack, _ = HandoffPack.objects.update_or_create(
        handoff=handoff,
        defaults={
            "summary": summary_for(texts, intents, handoff.reason or "escalated"),
            "key_details": key_details(texts),
            "sentiment": trend,
            "suggestions": suggestions_for(last_intent, risks, conversation),
            "transcript": [message_json(m) for m in messages],
        },
    )
    handoff.priority = priority_for(risks, trend["last"])
    handoff.save(update_fields=["priority"])
    notify_on_commit(
        [tenant_inbox_group(handoff.tenant_id)],
        {"type": "handoff.queued", "handoffId": handoff.pk, "conversationId": str(conversation.pk)},
    )
    return pack
