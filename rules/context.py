"""What conditions see: the one builder of a rule context (SPEC 5).

Handoff and escalation rules, approval thresholds and workflow steps read the names of
``CONVERSATION_NAMES`` (intent, sentiment, risk, channel, attempts, turns, language and
``customer.*``), and an approval threshold ``params.*`` and ``totals.*`` as well. Every place
that evaluates rules builds that context here, from plain values: the pipeline (the message
just received), the approvals gate (the customer's latest message, when no turn gives it),
backtests (a stored message replayed) and the rule tester (a sample message), so a rule sees
the same thing wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def rule_context(
    *,
    intent: str | None,
    sentiment: float | None,
    risk: Iterable[str] | None,
    channel: str,
    attempts: int,
    turns: int,
    language: str | None,
    customer: Mapping[str, Any] | None,
    verified: bool = False,
    params: Mapping[str, Any] | None = None,
    totals: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context rules evaluate. A blank intent or language is null (a condition tests it
    with ``== null``); ``risk`` is a list; ``customer`` is the customer's attributes (an
    object, empty when there are none); ``verified``: the customer signed in on the tenant's
    website, which signed who they are (``handover.identity``). ``params`` and ``totals`` are
    added when given (an action's approval)."""
    context: dict[str, Any] = {
        "intent": intent or None,
        "sentiment": sentiment,
        "risk": list(risk or []),
        "channel": channel,
        "attempts": attempts,
        "turns": turns,
        "language": language or None,
        "customer": dict(customer) if isinstance(customer, Mapping) else {},
        "verified": bool(verified),
    }
    if params is not None:
        context["params"] = dict(params)
    if totals is not None:
        context["totals"] = dict(totals)
    return context
