from agents.models.agents import (
    Agent,
    AgentRole,
    KnowledgeEntry,
    Pattern,
    RuntimeType,
    slug_validator,
)
from agents.models.guardrails import GuardrailAction, GuardrailPolicy
from agents.models.intents import Intent
from agents.models.orchestrator_settings import (
    GlobalOrchestratorSettings,
    HandoffMode,
    OrchestratorSettings,
    RiskCategory,
    SettingsLevel,
    StackOrchestratorSettings,
    TenantOrchestratorSettings,
)
from agents.models.rules import ApprovalAction, HandoffRule, RuleSet, RuleVersion
from agents.models.workflows import Workflow, WorkflowStep

__all__ = [
    "Agent",
    "AgentRole",
    "ApprovalAction",
    "GlobalOrchestratorSettings",
    "GuardrailAction",
    "GuardrailPolicy",
    "HandoffMode",
    "HandoffRule",
    "Intent",
    "KnowledgeEntry",
    "OrchestratorSettings",
    "Pattern",
    "RiskCategory",
    "RuleSet",
    "RuleVersion",
    "RuntimeType",
    "SettingsLevel",
    "StackOrchestratorSettings",
    "TenantOrchestratorSettings",
    "Workflow",
    "WorkflowStep",
    "slug_validator",
]
