"""API v1: orchestrator settings of the caller's tenant and of an agent's stack (SPEC 2, 6).

``GET/PATCH /api/v1/orchestrator-settings`` reads and writes the tenant level;
``GET/PATCH /api/v1/agents/{agentId}/orchestrator-settings`` reads the agent's effective
settings and writes its stack's level. In a PATCH body a name set to ``null`` clears it at that
level, so the level above decides again. Reading is for any principal of the tenant; writing
for a manager or an integration key (integrators automate configuration).
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import (
    Agent,
    HandoffMode,
    RiskCategory,
    SettingsLevel,
)
from agents.orchestrator_settings import (
    API_KEY_NAME,
    BANDS,
    MAX_COST,
    MAX_ENDPOINT_LENGTH,
    MAX_INSTRUCTIONS_LENGTH,
    MAX_KEY_LENGTH,
    MAX_MODEL_LENGTH,
    MAX_SECONDS,
    MAX_STEPS,
    MAX_TARGET_SECONDS,
    MAX_TOKENS,
    MAX_TURNS,
    MAX_WORKFLOW_NAME,
    SettingsOverview,
    settings_overview,
    settings_update,
    stack_root,
)
from core.api_auth import request_tenant
from core.scoping import scope_queryset

# --- Shapes (for the schema; the values are validated by the service, one set of messages) -----


@extend_schema_field({"type": "string", "enum": HandoffMode.values})
class _HandoffModeField(serializers.CharField):
    pass


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "enum": RiskCategory.values}, "uniqueItems": True}
)
class _RiskCategoriesField(serializers.ListField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "description": "For each name of `effective`, the level its value comes from.",
        "additionalProperties": {"type": "string", "enum": SettingsLevel.values},
    }
)
class _SourcesField(serializers.DictField):
    """An object, not one enum per name: named enum components would collide with the
    settings' own enums (``handoffMode``)."""


class _BandTargets(serializers.Serializer):
    firstResponse = serializers.IntegerField(min_value=1, max_value=MAX_TARGET_SECONDS)
    resolution = serializers.IntegerField(min_value=1, max_value=MAX_TARGET_SECONDS)


_RISK_ENTRY = {
    "type": "object",
    "properties": {
        "add": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "remove": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "additionalProperties": False,
}


@extend_schema_field(
    {
        "type": "object",
        "description": "The risk detector's settings by category, added to the level above: "
        "`add` phrases (or built-in rule names a level above removed), `remove` built-in "
        "rules by name or phrases added above, `threshold` (0..1) the score a category must "
        "reach (a phrase rule weighs 0.9, a manager's phrase 1.0).",
        "properties": dict.fromkeys(RiskCategory.values, _RISK_ENTRY),
        "additionalProperties": False,
    }
)
class _RiskDetectionField(serializers.DictField):
    pass


_ResponseTargets = type(
    "ResponseTargets",
    (serializers.Serializer,),
    {band: _BandTargets() for band in BANDS},
)


def _values_fields(*, mode: str) -> dict[str, serializers.Field]:
    """``full``: every name; ``some``: the names a level sets; ``patch``: optional, nullable."""
    options = {
        "full": {},
        "some": {"required": False},
        "patch": {"required": False, "allow_null": True},
    }[mode]
    return {
        "model": serializers.CharField(max_length=MAX_MODEL_LENGTH, **options),
        "checkInterval": serializers.IntegerField(
            min_value=1, max_value=MAX_SECONDS, help_text="Seconds.", **options
        ),
        "stallThreshold": serializers.IntegerField(
            min_value=1, max_value=MAX_TURNS, help_text="Turns.", **options
        ),
        "riskAutoEscalation": serializers.BooleanField(**options),
        "riskCategories": _RiskCategoriesField(**options),
        "riskDetection": _RiskDetectionField(**options),
        "handoffMode": _HandoffModeField(**options),
        "hotClaimTimeout": serializers.IntegerField(
            min_value=1, max_value=MAX_SECONDS, help_text="Seconds.", **options
        ),
        "routingInstructions": serializers.CharField(
            max_length=MAX_INSTRUCTIONS_LENGTH,
            allow_blank=True,
            help_text="Appended to the built-in routing prompt; {{TENANT_NAME}} is replaced.",
            **options,
        ),
        "orchestratorEndpoint": serializers.CharField(
            max_length=MAX_ENDPOINT_LENGTH,
            allow_blank=True,
            help_text="An OpenAI-compatible base URL: each turn the orchestrator asks this model "
            "(with `model`) what the rules leave open. Empty: rules only.",
            **options,
        ),
        "stepBudget": serializers.IntegerField(
            min_value=1,
            max_value=MAX_STEPS,
            help_text="Agent runs per conversation (replies, consultations, workflow steps).",
            **options,
        ),
        "tokenBudget": serializers.IntegerField(
            min_value=1,
            max_value=MAX_TOKENS,
            help_text="Tokens per conversation reported by the network runtimes.",
            **options,
        ),
        "costBudget": serializers.FloatField(
            min_value=0,
            max_value=MAX_COST,
            help_text="Cost per conversation from the runtimes' reported usage (> 0).",
            **options,
        ),
        "responseTargets": _ResponseTargets(
            help_text="Seconds within which a person should first answer and resolve a "
            "handoff, by its priority band (all four bands, both targets).",
            **options,
        ),
        "chatWorkflow": serializers.CharField(
            max_length=MAX_WORKFLOW_NAME,
            allow_blank=True,
            help_text="The name of a workflow of the tenant that new web chats start in "
            '("": none). Set for a tenant or a stack; the global level names none.',
            **options,
        ),
    }


def _patch_fields() -> dict[str, serializers.Field]:
    return {
        **_values_fields(mode="patch"),
        API_KEY_NAME: serializers.CharField(
            max_length=MAX_KEY_LENGTH,
            required=False,
            allow_null=True,
            write_only=True,
            help_text="The orchestrator endpoint's key: stored encrypted, never shown again.",
        ),
    }


def _shape(name: str, fields: dict[str, serializers.Field]) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), fields)


_EveryValue = _shape("OrchestratorSettingsValues", _values_fields(mode="full"))
_SomeValues = _shape("OrchestratorSettingsLevel", _values_fields(mode="some"))
SettingsPatch = _shape("OrchestratorSettingsPatch", _patch_fields())
TenantSettingsAnswer = _shape(
    "TenantOrchestratorSettings",
    {
        "effective": _EveryValue(),
        "sources": _SourcesField(),
        "levels": _shape(
            "TenantOrchestratorSettingsLevels",
            {"global": _EveryValue(), "tenant": _SomeValues()},
        )(),
    },
)
StackSettingsAnswer = _shape(
    "AgentOrchestratorSettings",
    {
        "effective": _EveryValue(),
        "sources": _SourcesField(),
        "stack": serializers.CharField(help_text="Id of the agent at the top of the stack."),
        "levels": _shape(
            "AgentOrchestratorSettingsLevels",
            {"global": _EveryValue(), "tenant": _SomeValues(), "stack": _SomeValues()},
        )(),
    },
)
_ERRORS = {
    400: _shape(
        "OrchestratorSettingsError",
        {"error": serializers.DictField(help_text='{"code", "message", "fields"}')},
    ),
}
_PATCH_EXAMPLE = OpenApiExample(
    "Override two settings and clear one",
    value={"checkInterval": 30, "handoffMode": "cold", "routingInstructions": None},
    request_only=True,
)


def _answer(overview: SettingsOverview) -> dict:
    body = {
        "effective": overview.effective,
        "sources": overview.sources,
    }
    if overview.stack is not None:
        body["stack"] = overview.stack.slug
    body["levels"] = overview.levels
    return body


def _changes(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError(
            'Expected a JSON object of settings by name, e.g. {"checkInterval": 30}.'
        )
    return request.data


class TenantSettingsView(APIView):
    @extend_schema(
        summary="The tenant's orchestrator settings",
        responses=TenantSettingsAnswer,
        tags=["orchestrator settings"],
    )
    def get(self, request: Request) -> Response:
        return Response(_answer(settings_overview(tenant=request_tenant(request))))

    @extend_schema(
        summary="Change the tenant's orchestrator settings",
        description="Sets the tenant level; `null` clears a name so the global default applies. "
        "Needs the manager role or an API key.",
        request=SettingsPatch,
        responses={200: TenantSettingsAnswer, **_ERRORS},
        examples=[_PATCH_EXAMPLE],
        tags=["orchestrator settings"],
    )
    def patch(self, request: Request) -> Response:
        tenant = request_tenant(request)
        settings_update(level=SettingsLevel.TENANT, tenant=tenant, changes=_changes(request))
        return Response(_answer(settings_overview(tenant=tenant)))


class AgentSettingsView(APIView):
    def _agent(self, request: Request, agent_id: str) -> Agent:
        agents = scope_queryset(Agent.objects.all(), request_tenant(request))
        return get_object_or_404(agents, slug=agent_id)

    @extend_schema(
        summary="An agent's effective orchestrator settings",
        description="Each value comes from the agent's stack, its tenant or the global "
        "defaults; `sources` says which.",
        responses=StackSettingsAnswer,
        tags=["orchestrator settings"],
    )
    def get(self, request: Request, agent_id: str) -> Response:
        agent = self._agent(request, agent_id)
        return Response(_answer(settings_overview(tenant=request_tenant(request), agent=agent)))

    @extend_schema(
        summary="Change the orchestrator settings of an agent's stack",
        description="Sets the level of the stack the agent belongs to (its top supervisor); "
        "`null` clears a name so the tenant or global value applies. Needs the manager role "
        "or an API key.",
        request=SettingsPatch,
        responses={200: StackSettingsAnswer, **_ERRORS},
        examples=[_PATCH_EXAMPLE],
        tags=["orchestrator settings"],
    )
    def patch(self, request: Request, agent_id: str) -> Response:
        tenant = request_tenant(request)
        agent = self._agent(request, agent_id)
        changes = _changes(request)
        settings_update(
            level=SettingsLevel.STACK, tenant=tenant, stack=stack_root(agent), changes=changes
        )
        return Response(_answer(settings_overview(tenant=tenant, agent=agent)))


urlpatterns = [
    path(
        "orchestrator-settings",
        TenantSettingsView.as_view(),
        name="api-tenant-orchestrator-settings",
    ),
    path(
        "agents/<str:agent_id>/orchestrator-settings",
        AgentSettingsView.as_view(),
        name="api-agent-orchestrator-settings",
    ),
]
