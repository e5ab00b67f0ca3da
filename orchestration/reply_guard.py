"""The guardrails' writes: evaluate a reply for the orchestrator and record what fired.

``reply_guard`` runs the effective policy of the speaking agent on a reply before it is stored
or sent and writes one decision event per rule that fired: ``guardrail.redacted`` for a rule
whose action is ``redact``, ``guardrail.blocked`` for ``fallback`` and ``block``. The events
name the rule and never hold the reply's text (it may be the personal data that was cut out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.guardrails.engine import REDACT, Verdict, compile_policy, evaluate
from approvals.models import ActionExecution, ExecutionStatus
from conversations.decisions import GuardrailBlocked, GuardrailRedacted
from conversations.events import record
from conversations.models import (
    Conversation,
    Message,
)
from core.events import timed


def done_actions_of(conversation: Conversation):
    """A callable listing the actions with a succeeded execution in the conversation."""

    def load() -> list[str]:

        return list(
            ActionExecution.objects.filter(
                conversation=conversation, status=ExecutionStatus.SUCCEEDED
            )
            .values_list("action", flat=True)
            .distinct()
        )

    return load


def reply_guard(
    *,
    conversation: Conversation,
    policy: Mapping[str, Any],
    text: str,
    agent_slug: str,
    message: Message | None = None,
) -> Verdict:
    """The verdict on ``text``, with its decision events recorded."""
    with timed() as t:
        verdict = evaluate(compile_policy(policy), text, done_actions=done_actions_of(conversation))
    for index, fired in enumerate(verdict.fired):
        event = GuardrailRedacted if fired.action == REDACT else GuardrailBlocked
        record(
            conversation=conversation,
            event=event(
                rule=fired.rule,
                action=fired.action,
                count=fired.count,
                outcome=verdict.outcome,
                reply_length=len(text or ""),
                found=dict(fired.detail),
            ),
            message=message,
            duration_ms=t[0] if index == 0 else 0.0,
            rule=fired.rule,
            agent_slug=agent_slug,
        )
    return verdict
