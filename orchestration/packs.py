"""The handoff pack (SPEC 4.5): what a person needs to pick a conversation up cold.

A short brief (issue 19, point 6): why it came to a person (the trigger message quoted), what
the customer wants, what the AI already did (actions, approvals: ``orchestration.activity``) and
the next steps for this case; the summary is that brief in a few sentences. Then the key
details (order ids, amounts, e-mail addresses, dates), the sentiment trend, the suggested
next steps (never empty: from the trigger, the intent, the pending or finished actions, the
tenant's approval rules for the actions the case is about, and the channel) and the
transcript; plus the priority it is queued by (risk, sentiment, waiting time)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from django.db import transaction

from agents.action_registry import get_action
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
from orchestration.activity import actions_done, activity_of, agent_names

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
    # the intents the orchestration guide escalates on (a tenant's own, issue 18)
    "legal_question": "A legal question: give no legal advice yourself; bring in whoever "
    "handles legal matters and tell the customer when they will hear back.",
    "billing_dispute": "A disputed charge: check the payment and the order before answering, "
    "and note what the customer disputes.",
    "security_incident": "A possible security incident: secure the account first (sessions, "
    "password reset) and follow the incident procedure.",
}
RISK_STEPS = {
    "legal_threat": "A legal threat was made: stay factual and involve a team lead.",
    "churn_risk": "The customer may leave: consider a retention offer.",
    "frustration": "The customer is frustrated: apologise and give a clear next step.",
    "human_request": NEXT_STEPS["human_agent"],
}
RISK_WORDS = {
    "legal_threat": "a legal threat",
    "churn_risk": "a risk that the customer leaves",
    "frustration": "frustration",
    "human_request": "a request for a person",
}
WANTS = {
    "billing": "help with a charge or an invoice",
    "refund": "a refund",
    "returns": "to return an item",
    "shipping": "news of a delivery",
    "technical": "a technical problem solved",
    "account": "a change to their account",
    "cancellation": "to cancel",
    "human_agent": "to talk to a person",
    "legal_question": "an answer to a legal question",
    "billing_dispute": "to dispute a charge",
    "security_incident": "help with a possible security problem",
}
# which intents a tenant's approval rule for an action concerns (its rule is a next step then)
ACTION_INTENTS = {
    "issue_refund": {"billing", "refund", "returns", "billing_dispute", "cancellation"},
    "modify_account": {"account", "cancellation", "security_incident"},
    "access_sensitive_data": {"account", "security_incident", "legal_question"},
}
QUOTE_LENGTH = 160


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


def _quote(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= QUOTE_LENGTH else text[: QUOTE_LENGTH - 1] + "\u2026"


def _words(name: str) -> str:
    return name.replace("_", " ")


def trigger_of(reason: str, customer: list[Message], until=None) -> Message | None:
    """The customer message that brought the conversation to a person: for a risk, the last
    one with a risk; for a request for a person, the last that asked for one; otherwise the
    last one before the handoff."""
    before = [m for m in customer if until is None or m.created_at <= until] or customer
    if not before:
        return None
    if reason.startswith("risk"):
        found = next((m for m in reversed(before) if m.risk), None)
        if found is not None:
            return found
    found = next((m for m in reversed(before) if m.intent == "human_agent"), None)
    if found is not None and reason.startswith("escalation rule"):
        return found
    return before[-1]


def why_text(reason: str, trigger: Message | None) -> str:
    """Why it came to a person, in words."""
    intent = trigger.intent if trigger is not None else None
    if reason.startswith("risk"):
        found = list((trigger.risk if trigger else []) or [])
        if found == ["human_request"] or (not found and intent == "human_agent"):
            return "The customer asked for a person"
        risks = [RISK_WORDS.get(r, _words(r)) for r in found]
        return f"The AI detected {' and '.join(risks) or 'a risk'}"
    if reason.startswith("escalation rule"):
        if intent == "human_agent":
            return "The customer asked for a person"
        if intent:
            return f"An escalation rule sends {_words(intent)} to people"
        return "An escalation rule sent it to people"
    if reason.startswith("escalation fallback"):
        return (
            "The agent it was escalated to could not resolve it ("
            + reason.split(":", 1)[-1].strip()
            + ")"
        )
    if reason.startswith("stalled"):
        return f"The conversation stalled ({reason.split(':', 1)[-1].strip()})"
    if reason.startswith("silence"):
        return "The customer was left waiting without an answer"
    if reason.startswith("action ") and reason.endswith(" failed"):
        return f"An action failed ({_words(reason[7:-7])})"
    if "budget" in reason or "runtime" in reason or "guardrail" in reason:
        return f"The AI could not answer ({reason})"
    return f"Handed over: {reason}" if reason else "Handed over"


def topic_of(customer: list[Message]) -> str | None:
    """The main intent of the customer's messages (asking for a person is not a topic), the
    latest of the most frequent."""
    intents = Counter(m.intent for m in customer if m.intent and m.intent != "human_agent")
    if not intents:
        return None
    top = max(intents.values())
    return next(m.intent for m in reversed(customer) if intents.get(m.intent) == top)


def wants_text(customer: list[Message], details: dict[str, list[str]]) -> str:
    """What the customer wants: the main topic of their messages, with the order ids and
    amounts they named."""
    topic = topic_of(customer)
    if topic:
        wants = WANTS.get(topic, f"help with a {_words(topic)}")
    elif any(m.intent == "human_agent" for m in customer):
        wants = WANTS["human_agent"]
    elif customer:
        return f"Not clear yet; their first message: \u201c{_quote(customer[0].text)}\u201d"
    else:
        return "Not clear yet: the customer has not written."
    extra = [f"order {o}" for o in details.get("orderIds", [])[:3]]
    extra += details.get("amounts", [])[:2]
    wants = wants[:1].upper() + wants[1:]
    return f"{wants} ({', '.join(extra)})" if extra else wants


def _action_steps(done: list[dict]) -> list[str]:
    steps = []
    for item in done:
        words = item["words"] or _words(item["action"])
        if item["step"] == "executed":
            steps.append(f"{words} was already carried out: do not do it again; confirm it.")
        elif item["step"] in ("requested", "approved", "running"):
            steps.append(
                f"{words} is waiting for approval or still running: promise nothing "
                "until it is decided."
            )
        elif item["step"] == "denied":
            because = f" ({item['reason']})" if item.get("reason") else ""
            steps.append(f"{words} was denied{because}: explain it; do not propose it again.")
        elif item["step"] == "expired":
            steps.append(f"{words} expired undecided: propose it again if it is still right.")
        elif item["step"] == "failed":
            steps.append(f"{words} failed: check it and retry, or tell the customer.")
        elif item["step"] == "rejected":
            steps.append(f"{words} was rejected as invalid: check the details before retrying.")
        elif item["step"] == "blocked":
            steps.append(f"{words} is not allowed for the AI: decide whether a person should.")
    return steps


def _rule_steps(intents: set[str], done: list[dict], approvals: dict[str, Any]) -> list[str]:
    if not approvals.get("required", True):
        return []
    acted = {item["action"] for item in done}
    steps = []
    for item in approvals.get("actions", []) or []:
        action = item.get("action", "")
        if action not in acted and not (ACTION_INTENTS.get(action, set()) & intents):
            continue  # a rule for an action this case is not about
        spec = get_action(action)
        label = spec.customer_label if spec else _words(action)
        when = f" when {item['when']}" if item.get("when") else ""
        steps.append(f"A {label} needs approval{when} (the tenant's rule).")
    return steps


def suggestions_for(
    *,
    reason: str,
    trigger: Message | None,
    customer: list[Message],
    done: list[dict],
    approvals: dict[str, Any],
    channel: str,
    mode: str,
) -> list[str]:
    """The next steps for this case, never empty: from what is pending or finished, the
    trigger, the intent, the risks, the tenant's approval rules for the actions the case is
    about, and the channel."""
    steps = _action_steps(done)
    intents = {m.intent for m in customer if m.intent}
    if trigger is not None and trigger.intent in NEXT_STEPS:
        steps.append(NEXT_STEPS[trigger.intent])
    topic = topic_of(customer)
    if topic in NEXT_STEPS:
        steps.append(NEXT_STEPS[topic])
    elif topic:
        steps.append(
            f"The customer's topic is {_words(topic)}: answer that first, or bring in "
            "whoever handles it."
        )
    risks = {r for m in customer for r in (m.risk or [])}
    steps.extend(RISK_STEPS[r] for r in sorted(risks) if r in RISK_STEPS)
    steps.extend(_rule_steps(intents, done, approvals))
    if channel == "email":
        steps.append(
            "Reply by e-mail: the customer is not waiting live, so answer everything "
            "in one message."
        )
    elif mode == "hot":
        steps.append("The customer is waiting live: greet them within a minute.")
    if trigger is not None:
        steps.append(
            f"Answer the message that brought it to you: \u201c{_quote(trigger.text)}\u201d"
        )
    elif not steps:
        steps.append("Read the conversation and greet the customer.")
    return list(dict.fromkeys(steps))


def brief_for(
    *,
    handoff: Handoff,
    messages: list[Message],
    activity: list[dict],
) -> dict[str, Any]:
    """The pack's brief: why it came to a person (the trigger quoted), what the customer
    wants, what was already done (actions, approvals), and the next steps."""
    conversation = handoff.conversation
    customer = [m for m in messages if m.role == MessageRole.CUSTOMER]
    reason = handoff.reason or "escalated"
    trigger = trigger_of(reason, customer, handoff.created_at)
    details = key_details([m.text for m in customer])
    done = actions_done(activity)
    rules = rules_for(conversation.current_agent)
    return {
        "why": why_text(reason, trigger),
        "trigger": {
            "messageId": trigger.pk,
            "text": _quote(trigger.text),
            "at": trigger.created_at.isoformat(),
        }
        if trigger is not None
        else None,
        "wants": wants_text(customer, details),
        "done": [item["text"] for item in done],
        "next": suggestions_for(
            reason=reason,
            trigger=trigger,
            customer=customer,
            done=done,
            approvals=rules.approvals or {},
            channel=conversation.channel,
            mode=handoff.mode,
        ),
    }


def summary_for(brief: dict[str, Any]) -> str:
    """The brief in two or three short sentences (the inbox's list shows its start)."""
    trigger = brief.get("trigger")
    quoted = f": \u201c{trigger['text']}\u201d" if trigger else ""
    done = brief.get("done") or []
    did = f" Already done: {'; '.join(done[:3])}." if done else " Nothing done yet."
    return f"{brief['why']}{quoted}. Wants: {brief['wants']}.{did}"


def pack_contents(
    handoff: Handoff, messages: list[Message], activity: list[dict]
) -> dict[str, Any]:
    """What a pack holds (as the API shows it), read from the messages and the activity."""
    customer = [m for m in messages if m.role == MessageRole.CUSTOMER]
    brief = brief_for(handoff=handoff, messages=messages, activity=activity)
    return {
        "summary": summary_for(brief),
        "brief": brief,
        "keyDetails": key_details([m.text for m in customer]),
        "sentiment": sentiment_trend([m.sentiment for m in customer if m.sentiment is not None]),
        "suggestions": brief["next"],
    }


def pack_preview(handoff: Handoff, messages: list[Message], activity: list[dict]) -> dict:
    """What a person sees of a handoff that has no pack yet (a hot offer): what a cold pack
    would hold, read now and not stored."""
    return {
        **pack_contents(handoff, messages, activity),
        "transcript": [],
        "activity": activity,
        "preview": True,
    }


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
    risks = {r for m in customer for r in (m.risk or [])}
    activity = activity_of(conversation, agents=agent_names(conversation.tenant_id))
    contents = pack_contents(handoff, messages, activity)
    pack, _ = HandoffPack.objects.update_or_create(
        handoff=handoff,
        defaults={
            "summary": contents["summary"],
            "brief": contents["brief"],
            "key_details": contents["keyDetails"],
            "sentiment": contents["sentiment"],
            "suggestions": contents["suggestions"],
            "transcript": [message_json(m) for m in messages],
            "activity": activity,
        },
    )
    trend = contents["sentiment"]
    handoff.priority = priority_for(risks, trend["last"])
    handoff.save(update_fields=["priority"])
    notify_on_commit(
        [tenant_inbox_group(handoff.tenant_id)],
        {"type": "handoff.queued", "handoffId": handoff.pk, "conversationId": str(conversation.pk)},
    )
    return pack
