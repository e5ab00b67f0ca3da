from agents.models.agents import (
    Agent,
    AgentRole,
    KnowledgeEntry,
    Pattern,
    RuntimeType,
    slug_validator,
)
from agents.models.guardrails import GuardrailAction, GuardrailPolicy
from agents.models.rules import ApprovalAction, HandoffRule, RuleSet, RuleVersion
from agents.models.workflows import Workflow, WorkflowStep

__all__ = [
    "Agent",
    "AgentRole",
    "ApprovalAction",
    "GuardrailAction",
    "GuardrailPolicy",
    "HandoffRule",
    "KnowledgeEntry",
    "Pattern",
    "RuleSet",
    "RuleVersion",
    "RuntimeType",
    "Workflow",
    "WorkflowStep",
    "slug_validator",
]
