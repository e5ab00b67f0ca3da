"""API v1 for an agent's orchestration rules and their history (SPEC 6)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent
from agents.rule_lint import rules_warnings
from agents.rule_sets import (
    EMPTY_DOCUMENT,
    effective_ruleset,
    rules_clear,
    rules_document,
    rules_restore,
    rules_update,
)
from core.api_auth import tenant_get_or_404

RulesShape = inline_serializer(
    "OrchestrationRules",
    {
        "agentId": serializers.CharField(),
        "source": serializers.ChoiceField(choices=["own", "inherited", "default"]),
        "inheritedFrom": serializers.CharField(allow_null=True),
        "version": serializers.IntegerField(allow_null=True),
        "escalation": serializers.DictField(allow_null=True),
        "handoffs": serializers.ListField(child=serializers.DictField()),
        "approvals": serializers.DictField(allow_null=True),
        "updatedAt": serializers.DateTimeField(allow_null=True),
        "warnings": serializers.ListField(
            child=inline_serializer(
                "RuleWarning",
                {
                    "path": serializers.CharField(),
                    "code": serializers.CharField(),
                    "message": serializers.CharField(),
                },
            ),
            help_text="What the rule lint found in the rules shown (an unknown intent with "
            "the closest known one, a rule shadowed by an earlier one, an escalation loop): "
            "warnings, never a refusal.",
        ),
    },
)

# The product docs' three createRules calls, sent one after another (each keeps the others).
DOCS_EXAMPLES = {
    "escalation": {
        "escalation": {
            "maxAttempts": 3,
            "intents": ["billing_dispute", "legal_question", "security_incident"],
            "targetAgentId": "agent-supervisor",
            "escalateToHuman": True,
        }
    },
    "handoffs": {
        "handoffs": [
            {"condition": 'intent == "technical_support"', "targetAgentId": "agent-tech-support"},
            {"condition": 'intent == "billing"', "targetAgentId": "agent-billing"},
            {"condition": "sentiment < -0.5", "targetAgentId": "agent-retention"},
        ]
    },
    "approvals": {
        "approvals": {
            "required": True,
            "actions": ["issue_refund", "modify_account", "access_sensitive_data"],
            "approvers": ["user-admin-123", "user-manager-456"],
        }
    },
}


def rules_json(agent: Agent) -> dict:
    ruleset, owner = effective_ruleset(agent)
    document = rules_document(ruleset) or EMPTY_DOCUMENT
    if owner is None:
        source = "default"
    else:
        source = "own" if owner.pk == agent.pk else "inherited"
    return {
        "agentId": agent.slug,
        "source": source,
        "inheritedFrom": owner.slug if source == "inherited" else None,
        "version": ruleset.version if ruleset else None,
        **document,
        "updatedAt": ruleset.updated_at if ruleset else None,
        "warnings": rules_warnings(owner) if owner is not None else [],
    }


def _user(request):
    return request.user if getattr(request.user, "pk", None) else None


class RulesView(APIView):
    @extend_schema(responses=RulesShape)
    def get(self, request, agent_id: str):
        return Response(rules_json(tenant_get_or_404(request, Agent, slug=agent_id)))

    @extend_schema(
        request=inline_serializer(
            "OrchestrationRulesInput",
            {
                "escalation": serializers.DictField(required=False, allow_null=True),
                "handoffs": serializers.ListField(required=False, allow_null=True),
                "approvals": serializers.DictField(required=False, allow_null=True),
            },
        ),
        responses={201: RulesShape},
        examples=[
            OpenApiExample(f"the docs' {name} call", value=value, request_only=True)
            for name, value in DOCS_EXAMPLES.items()
        ],
        description="Sets the sections the body names (escalation, handoffs, approvals) and "
        "keeps the agent's others; a section given as null is cleared. Each call is one rule "
        "version. An escalation with both targetAgentId and escalateToHuman goes to the agent "
        "first, with a human as the fallback when that agent cannot resolve it. A handoff rule "
        'names an agent (targetAgentId) or a workflow by name ({"condition": ..., "workflow": '
        '"Support Escalation"}): the conversation then runs that workflow.',
    )
    def post(self, request, agent_id: str):
        agent = tenant_get_or_404(request, Agent, slug=agent_id)
        rules_update(agent=agent, changes=request.data, user=_user(request), via="api")
        return Response(rules_json(agent), status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def delete(self, request, agent_id: str):
        agent = tenant_get_or_404(request, Agent, slug=agent_id)
        rules_clear(agent=agent, user=_user(request), via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


def version_json(version) -> dict:
    return {
        "version": version.version,
        "createdAt": version.created_at,
        "createdBy": version.created_by.get_username() if version.created_by_id else None,
        "via": version.via,
        "rules": version.document,
    }


class RuleVersionsView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "RuleVersion",
            {
                "version": serializers.IntegerField(),
                "createdAt": serializers.DateTimeField(),
                "createdBy": serializers.CharField(allow_null=True),
                "via": serializers.CharField(),
                "rules": serializers.DictField(allow_null=True),
            },
            many=True,
        )
    )
    def get(self, request, agent_id: str):
        agent = tenant_get_or_404(request, Agent, slug=agent_id)
        versions = agent.rule_versions.select_related("created_by")
        return Response([version_json(v) for v in versions])


class RuleRestoreView(APIView):
    @extend_schema(request=None, responses=RulesShape)
    def post(self, request, agent_id: str, version: int):
        agent = tenant_get_or_404(request, Agent, slug=agent_id)
        found = get_object_or_404(agent.rule_versions, version=version)
        rules_restore(agent=agent, version=found, user=_user(request))
        return Response(rules_json(agent))


urlpatterns = [
    path("agents/<str:agent_id>/orchestration/rules", RulesView.as_view(), name="api-rules"),
    path(
        "agents/<str:agent_id>/orchestration/rules/versions",
        RuleVersionsView.as_view(),
        name="api-rule-versions",
    ),
    path(
        "agents/<str:agent_id>/orchestration/rules/versions/<int:version>/restore",
        RuleRestoreView.as_view(),
        name="api-rule-restore",
    ),
]
