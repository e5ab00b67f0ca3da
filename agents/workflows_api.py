"""API v1 for workflows (SPEC 4.4, 6): ``/api/v1/workflows`` and ``/api/v1/workflows/<id>``.

The serializers below describe the bodies for the OpenAPI schema. Validation is
``agents.workflows.workflow_validate`` (run by the services), the one the admin runs too, so
both give the same messages; its errors come out as ``{"error": {"code": "invalid", "message",
"fields": {"steps[1].condition": [...]}}}``.
"""

from __future__ import annotations

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Workflow
from agents.workflows import (
    ALL,
    CONTEXT,
    DEFAULT_STEP_BUDGET,
    MAX_STEP_BUDGET,
    MAX_STEPS,
    MIN_STEP_BUDGET,
    START,
    workflow_create,
    workflow_delete,
    workflow_document,
    workflow_documents,
    workflow_get,
    workflow_list,
    workflow_replace,
)
from core.api_auth import request_tenant
from core.api_schema import ErrorSerializer

READ_METHODS = ("GET", "HEAD", "OPTIONS")


# --- schema ------------------------------------------------------------------------------------


class WorkflowStepSerializer(serializers.Serializer):
    agent = serializers.CharField(help_text="The id of an agent of your tenant.")
    condition = serializers.CharField(
        help_text=f'"{START}" for the first step (and only it); later steps run when this '
        'condition holds over the conversation and earlier outputs, e.g. category == "technical".'
    )
    inputs = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=f'["{ALL}"] (the default: everything) or names: "{CONTEXT}" (the conversation '
        "so far: transcript, customer, signals), conversation names (intent, sentiment, risk, "
        "channel, attempts, turns, language, customer) and outputs of earlier steps.",
    )
    outputs = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Names this step contributes (identifiers, unique, not conversation names).",
    )


class WorkflowRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="Unique in your tenant.")
    stepBudget = serializers.IntegerField(
        min_value=MIN_STEP_BUDGET,
        max_value=MAX_STEP_BUDGET,
        required=False,
        default=DEFAULT_STEP_BUDGET,
        help_text="Most steps one run may take before it stops and hands over to a human.",
    )
    steps = serializers.ListField(
        child=WorkflowStepSerializer(), min_length=1, max_length=MAX_STEPS
    )


class WorkflowSerializer(WorkflowRequestSerializer):
    id = serializers.IntegerField(read_only=True)
    warnings = serializers.ListField(
        child=inline_serializer(
            "WorkflowWarning",
            {
                "path": serializers.CharField(),
                "code": serializers.CharField(),
                "message": serializers.CharField(),
            },
        ),
        read_only=True,
        required=False,
        help_text="The rule lint's findings (as the rules API's): a step that never runs (its "
        "condition never holds, it is past the step budget, or it needs an output no earlier "
        "step gives), one that needs an output only conditional steps give, an unknown intent "
        "or category. Saving is never refused for them.",
    )
    createdAt = serializers.DateTimeField(read_only=True)
    updatedAt = serializers.DateTimeField(read_only=True)


INVALID = OpenApiResponse(ErrorSerializer, description="The document is invalid.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such workflow in your tenant.")


# The product docs' multi-agent workflow, as written there.
DOCS_WORKFLOW = {
    "name": "Support Escalation",
    "steps": [
        {"agent": "agent-triage", "condition": "start", "outputs": ["category", "priority"]},
        {
            "agent": "agent-specialist",
            "condition": 'category == "technical"',
            "inputs": ["category", "context"],
        },
        {"agent": "agent-supervisor", "condition": 'priority == "critical"', "inputs": ["all"]},
    ],
}


# --- views -------------------------------------------------------------------------------------


def _get(request, workflow_id: int) -> Workflow:
    workflow = workflow_get(tenant=request_tenant(request), workflow_id=workflow_id)
    if workflow is None:
        raise NotFound("No such workflow.")
    return workflow


def _answer(request, workflow: Workflow, status_code: int = status.HTTP_200_OK) -> Response:
    """The workflow as stored, re-read with its steps."""
    return Response(workflow_document(_get(request, workflow.pk)), status=status_code)


class WorkflowListView(APIView):
    @extend_schema(
        operation_id="workflows_list",
        responses=WorkflowSerializer(many=True),
        description="The tenant's workflows with their steps, by name.",
    )
    def get(self, request):
        workflows = workflow_list(tenant=request_tenant(request))
        return Response(workflow_documents(workflows))

    @extend_schema(
        operation_id="workflows_create",
        request=WorkflowRequestSerializer,
        responses={201: WorkflowSerializer, 400: INVALID},
        examples=[OpenApiExample("the docs' workflow", value=DOCS_WORKFLOW, request_only=True)],
    )
    def post(self, request):
        workflow = workflow_create(tenant=request_tenant(request), data=request.data)
        response = _answer(request, workflow, status.HTTP_201_CREATED)
        response["Location"] = reverse("api-workflow", kwargs={"workflow_id": workflow.pk})
        return response


class WorkflowDetailView(APIView):
    @extend_schema(
        operation_id="workflows_retrieve", responses={200: WorkflowSerializer, 404: NOT_FOUND}
    )
    def get(self, request, workflow_id: int):
        return Response(workflow_document(_get(request, workflow_id)))

    @extend_schema(
        operation_id="workflows_replace",
        request=WorkflowRequestSerializer,
        responses={200: WorkflowSerializer, 400: INVALID, 404: NOT_FOUND},
        description="Replaces the name, the step budget and all the steps.",
    )
    def put(self, request, workflow_id: int):
        workflow = workflow_replace(workflow=_get(request, workflow_id), data=request.data)
        return _answer(request, workflow)

    @extend_schema(
        operation_id="workflows_destroy",
        responses={204: None, 404: NOT_FOUND, 409: OpenApiResponse(ErrorSerializer)},
    )
    def delete(self, request, workflow_id: int):
        workflow_delete(workflow=_get(request, workflow_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("workflows", WorkflowListView.as_view(), name="api-workflows"),
    path("workflows/<int:workflow_id>", WorkflowDetailView.as_view(), name="api-workflow"),
]
