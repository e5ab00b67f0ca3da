"""API v1 for stacks and stack templates (issue 10).

- ``GET /api/v1/agents/{agentId}/stack/export``: the agent's stack as a template document.
- ``POST /api/v1/stacks/import``: ``{template, prefix?, approvers?, dryRun?}`` creates the stack.
- ``GET/POST /api/v1/stack-templates``, ``GET/DELETE /api/v1/stack-templates/{id}``: the
  built-in and global templates and the tenant's own (publishing here is for the tenant itself).
- ``POST /api/v1/stack-templates/{id}/instantiate``: ``{prefix?, approvers?, dryRun?}``.

An invalid template is a 400 naming every problem by its path (``template.agents[0].rules.
handoffs[1].condition``), and nothing is created.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Agent
from core.api_auth import request_tenant, tenant_get_or_404
from core.api_schema import ErrorSerializer
from stacks.documents import stack_export
from stacks.selectors import TemplateEntry, template_get, templates_for
from stacks.services import stack_import, template_delete, template_publish

INVALID = OpenApiResponse(ErrorSerializer, description="Every problem, by its path.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such template for your tenant.")


# --- shapes (for the schema) ----------------------------------------------------------------------


class StackDocumentSerializer(serializers.Serializer):
    format = serializers.CharField(help_text='"stack-template"')
    version = serializers.IntegerField(help_text="1")
    name = serializers.CharField()
    description = serializers.CharField(required=False)
    agents = serializers.ListField(
        child=serializers.DictField(),
        help_text="{id, name, role, supervisorId, domains, pattern, runtime, prompt, "
        "knowledge, rules}; exactly one has no supervisorId (the stack's supervisor).",
    )
    settings = serializers.DictField(
        required=False, help_text="Orchestrator settings of the stack level, by API name."
    )
    workflows = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="{name, stepBudget, steps}"
    )


class InstantiateSerializer(serializers.Serializer):
    prefix = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Put before every agent id (eu -> eu-agent-billing) and workflow name, so a "
        "template can be used more than once in a tenant.",
    )
    approvers = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_null=True,
        help_text="Your approvers (usernames or group:<name>), in place of every approval "
        "rule's approvers.",
    )
    dryRun = serializers.BooleanField(
        required=False, default=False, help_text="Check and show what would be created."
    )


class ImportSerializer(InstantiateSerializer):
    template = StackDocumentSerializer()


class PlanSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    prefix = serializers.CharField()
    rootAgentId = serializers.CharField(allow_null=True)
    agents = serializers.ListField(child=serializers.DictField())
    workflows = serializers.ListField(child=serializers.DictField())
    settings = serializers.DictField()
    approvers = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="What the rule lint finds in the stack's rules and workflows once created "
        "({path, code, message}, paths in the document): warnings, never a refusal.",
    )


class TemplateSerializer(serializers.Serializer):
    id = serializers.CharField(help_text='"builtin-..." for the built-in ones, else a number.')
    name = serializers.CharField()
    description = serializers.CharField()
    scope = serializers.ChoiceField(choices=["builtin", "global", "tenant"])
    readOnly = serializers.BooleanField()
    agents = serializers.IntegerField()
    workflows = serializers.ListField(child=serializers.CharField())
    createdAt = serializers.DateTimeField(allow_null=True)


class TemplateDetailSerializer(TemplateSerializer):
    document = StackDocumentSerializer()


class PublishSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    agentId = serializers.CharField(
        required=False, help_text="Publish this agent's stack as it is now..."
    )
    document = StackDocumentSerializer(required=False, help_text="...or this document.")


# --- views ----------------------------------------------------------------------------------------


def _flag(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1", "yes"))


def template_json(entry: TemplateEntry, *, document: bool = False) -> dict:
    summary = entry.summary
    data = {
        "id": entry.key,
        "name": entry.name,
        "description": entry.description,
        "scope": entry.scope,
        "readOnly": entry.read_only,
        "agents": summary["agents"],
        "workflows": summary["workflows"],
        "createdAt": entry.row.created_at if entry.row else None,
    }
    if document:
        data["document"] = entry.document
    return data


def _instantiate(request, document) -> Response:
    data = request.data if isinstance(request.data, dict) else {}
    approvers = data.get("approvers")
    dry_run = _flag(data.get("dryRun"))
    plan = stack_import(
        tenant=request_tenant(request),
        document=document,
        prefix=data.get("prefix") or "",
        approvers=approvers,
        user=request.user if getattr(request.user, "pk", None) else None,
        dry_run=dry_run,
    )
    return Response(plan, status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED)


class StackExportView(APIView):
    @extend_schema(
        operation_id="stack_export",
        responses=StackDocumentSerializer,
        description="The stack of this agent (its top supervisor and every agent below, their "
        "knowledge and own rules, the stack's orchestrator settings and the workflows that "
        "use only its agents) as a template document. Runtime secrets (API keys, webhook "
        "signing secrets) are left out: give runtime.apiKey / runtime.secret in the document "
        "you import.",
    )
    def get(self, request, agent_id: str):
        return Response(stack_export(root=tenant_get_or_404(request, Agent, slug=agent_id)))


class StackImportView(APIView):
    @extend_schema(
        operation_id="stack_import",
        request=ImportSerializer,
        responses={201: PlanSerializer, 200: PlanSerializer, 400: INVALID},
        description="Creates the stack in your tenant in one transaction, all or nothing; "
        "with dryRun, checks it and answers what would be created.",
        examples=[
            OpenApiExample(
                "import twice with a prefix",
                value={"template": {"format": "stack-template", "version": 1}, "prefix": "eu"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        if "template" not in data:
            raise serializers.ValidationError({"template": ["This field is required."]})
        return _instantiate(request, data["template"])


def _entry(request, template_id: str) -> TemplateEntry:
    entry = template_get(tenant=request_tenant(request), key=template_id)
    if entry is None:
        raise NotFound("No such template.")
    return entry


class TemplateListView(APIView):
    @extend_schema(
        operation_id="stack_templates_list",
        responses=TemplateSerializer(many=True),
        description="The built-in templates, the global ones and your tenant's own.",
    )
    def get(self, request):
        entries = templates_for(tenant=request_tenant(request))
        return Response([template_json(entry) for entry in entries])

    @extend_schema(
        operation_id="stack_templates_create",
        request=PublishSerializer,
        responses={201: TemplateDetailSerializer, 400: INVALID},
        description="Publishes a template for your tenant: an agent's stack as it is now "
        "(agentId) or a document.",
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        tenant = request_tenant(request)
        if data.get("agentId") is not None:
            if not isinstance(data["agentId"], str):
                raise serializers.ValidationError({"agentId": ["Must be an agent id."]})
            document = stack_export(root=tenant_get_or_404(request, Agent, slug=data["agentId"]))
        elif "document" in data:
            document = data["document"]
        else:
            raise serializers.ValidationError({"agentId": ["Give agentId or document."]})
        description = data.get("description") or ""
        if not isinstance(description, str):
            raise serializers.ValidationError({"description": ["Must be text."]})
        row = template_publish(
            tenant=tenant,
            name=data.get("name"),
            description=description,
            document=document,
            user=request.user if getattr(request.user, "pk", None) else None,
        )
        entry = template_get(tenant=tenant, key=row.pk)
        return Response(template_json(entry, document=True), status=status.HTTP_201_CREATED)


class TemplateDetailView(APIView):
    @extend_schema(
        operation_id="stack_templates_retrieve",
        responses={200: TemplateDetailSerializer, 404: NOT_FOUND},
    )
    def get(self, request, template_id: str):
        return Response(template_json(_entry(request, template_id), document=True))

    @extend_schema(
        operation_id="stack_templates_destroy",
        responses={204: None, 403: OpenApiResponse(ErrorSerializer), 404: NOT_FOUND},
        description="Deletes one of your tenant's templates; built-in and global ones are "
        "read-only here.",
    )
    def delete(self, request, template_id: str):
        entry = _entry(request, template_id)
        if entry.row is None or entry.row.tenant_id is None:
            raise PermissionDenied("Built-in and global templates are read-only.")
        template_delete(template=entry.row)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateInstantiateView(APIView):
    @extend_schema(
        operation_id="stack_templates_instantiate",
        request=InstantiateSerializer,
        responses={201: PlanSerializer, 200: PlanSerializer, 400: INVALID, 404: NOT_FOUND},
        description="Creates the template's stack in your tenant (all or nothing); with "
        "dryRun, answers what would be created.",
    )
    def post(self, request, template_id: str):
        return _instantiate(request, _entry(request, template_id).document)


urlpatterns = [
    path("agents/<str:agent_id>/stack/export", StackExportView.as_view(), name="api-stack-export"),
    path("stacks/import", StackImportView.as_view(), name="api-stack-import"),
    path("stack-templates", TemplateListView.as_view(), name="api-stack-templates"),
    path(
        "stack-templates/<str:template_id>",
        TemplateDetailView.as_view(),
        name="api-stack-template",
    ),
    path(
        "stack-templates/<str:template_id>/instantiate",
        TemplateInstantiateView.as_view(),
        name="api-stack-template-instantiate",
    ),
]
