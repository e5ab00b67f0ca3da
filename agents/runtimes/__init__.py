"""Pluggable agent runtimes (SPEC 4.6): ``builtin``, ``openai`` and ``webhook``.

The orchestrator builds a :class:`TurnContext` (plain values, no models) and calls
:func:`run_agent`, which dispatches on ``ctx.agent.runtime``, never raises and never touches
the database. See :mod:`agents.runtimes.base`.
"""

from agents.runtimes.base import (
    CANNOT_ANSWER,
    RUNTIMES,
    AgentReply,
    AgentSpec,
    KnowledgeItem,
    ProposedAction,
    StepCall,
    TurnContext,
    with_tenant_name,
)
from agents.runtimes.http import HttpPolicy
from agents.runtimes.run import run_agent

__all__ = [
    "CANNOT_ANSWER",
    "RUNTIMES",
    "AgentReply",
    "AgentSpec",
    "HttpPolicy",
    "KnowledgeItem",
    "ProposedAction",
    "StepCall",
    "TurnContext",
    "run_agent",
    "with_tenant_name",
]
