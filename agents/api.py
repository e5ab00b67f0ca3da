"""API v1 for agents: ``/api/v1/agents`` and ``/api/v1/agents/<agentId>`` (SPEC 6)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import services
from agents.models import Agent, AgentRole, Pattern
from agents.runtime_config import public_runtime, runtime_errors, split_runtime
from agents.serializers import KnowledgeSerializer
from core.api_auth import request_tenant, tenant_get_or_404
from core.scoping import scope_queryset


def tenant_agents(request):
    return scope_queryset(Agent.objects.all(), request_tenant(request))


def get_agent(request, agent_id: str) -> Agent:
    return tenant_get_or_404(request, Agent, slug=agent_id)


class AgentSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=63)
    name = serializers.CharField(max_length=200)
    role = serializers.ChoiceField(choices=AgentRole.values)
    supervisorId = serializers.CharField(max_length=63, required=False, allow_null=True)
    domains = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False, max_length=50
    )
    pattern = serializers.ChoiceField(choices=Pattern.values, required=False, allow_null=True)
    runtime = serializers.DictField(
        required=False,
        help_text='{"type": "builtin" | "openai" | "webhook", ...settings}. openai: baseUrl, '
        "model, and apiKey (stored encrypted) or apiKeyEnv (a variable the operator allows, "
        "RUNTIME_KEY_ENVS); webhook: url and secret (stored encrypted). apiKey and secret are "
        "write-only (read back as hasApiKey / hasSecret); a change without them keeps the "
        "stored one.",
    )
    prompt = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    knowledge = KnowledgeSerializer(many=True, required=False, max_length=500)
    allowedActions = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        allow_null=True,
        help_text="The actions the agent may propose; null (the default) allows every "
        "registered action, [] none.",
    )

    def validate_runtime(self, value):
        runtime = value.get("type", "builtin")
        # an update that does not repeat the secret keeps the one stored
        stored = (
            self.instance is not None
            and self.instance.runtime == runtime
            and bool(self.instance.runtime_secret)
        )
        errors = runtime_errors(runtime, value, stored=stored)
        if errors:
            raise serializers.ValidationError({k or "type": [v] for k, v in errors.items()})
        config, secret = split_runtime(runtime, value)
        return {"runtime": runtime, "runtime_config": config, "runtime_secret": secret}

    def validate_supervisorId(self, value):
        if value is None:
            return None
        found = tenant_agents(self.context["request"]).filter(slug=value).first()
        if found is None:
            raise serializers.ValidationError(f"unknown agent '{value}'")
        return found

    def to_model_fields(self) -> dict:
        data = dict(self.validated_data)
        fields: dict = {}
        renames = {"id": "slug", "supervisorId": "supervisor", "allowedActions": "allowed_actions"}
        for key, value in data.items():
            if key == "runtime":
                fields.update(value)
            elif key == "pattern":
                fields["pattern"] = value or Pattern.HANDOFF
            else:
                fields[renames.get(key, key)] = value
        return fields


def agent_json(agent: Agent, *, knowledge: bool = False) -> dict:
    data = {
        "id": agent.slug,
        "name": agent.name,
        "role": agent.role,
        "supervisorId": agent.supervisor.slug if agent.supervisor_id else None,
        "domains": agent.domains,
        "pattern": agent.pattern if agent.is_supervisor else None,
        "runtime": public_runtime(
            agent.runtime, agent.runtime_config, has_secret=bool(agent.runtime_secret)
        ),
        "prompt": agent.prompt,
        "allowedActions": agent.allowed_actions,
    }
    if knowledge:
        data["knowledge"] = [entry.as_document() for entry in agent.knowledge.all()]
    return data


def _save(call, **kwargs) -> Agent:
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None


class AgentListView(APIView):
    @extend_schema(responses=AgentSerializer(many=True))
    def get(self, request):
        agents = tenant_agents(request).select_related("supervisor")
        return Response([agent_json(agent) for agent in agents])

    @extend_schema(request=AgentSerializer, responses={201: AgentSerializer})
    def post(self, request):
        serializer = AgentSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        agent = _save(
            services.agent_create, tenant=request_tenant(request), **serializer.to_model_fields()
        )
        return Response(agent_json(agent, knowledge=True), status=status.HTTP_201_CREATED)


class AgentDetailView(APIView):
    @extend_schema(responses=AgentSerializer)
    def get(self, request, agent_id: str):
        agent = get_agent(request, agent_id)
        return Response(agent_json(agent, knowledge=True))

    @extend_schema(request=AgentSerializer(partial=True), responses=AgentSerializer)
    def patch(self, request, agent_id: str):
        agent = get_agent(request, agent_id)
        serializer = AgentSerializer(
            agent, data=request.data, partial=True, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        agent = _save(services.agent_update, agent=agent, **serializer.to_model_fields())
        return Response(agent_json(agent, knowledge=True))

    @extend_schema(responses={204: None})
    def delete(self, request, agent_id: str):
        agent = get_agent(request, agent_id)
        services.agent_delete(agent=agent)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("agents", AgentListView.as_view(), name="api-agents"),
    path("agents/<str:agent_id>", AgentDetailView.as_view(), name="api-agent"),
]
