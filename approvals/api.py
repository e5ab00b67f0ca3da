"""API v1 for actions and approvals (SPEC 6, 7).

- ``POST /conversations/{id}/actions`` ``{action, params, idempotencyKey}``: 200
  ``{execution}`` when the action needs no approval (it has run, or is queued to), 202
  ``{approval}`` while it waits for approvers (200 once that request is decided); the same
  idempotencyKey answers with the same row; 400 names the bad field (``params.amount``).
- ``GET /approvals?status=&conversationId=&action=&mine=&before=&limit=``,
  ``GET /approvals/{id}``.
- ``POST /approvals/{id}/approve`` ``{reason?}``, ``.../deny`` ``{reason}``: 200 the request;
  403 an integration key, not an approver of it, or someone who caused it (``causedBy``: who
  asked, the creator of the key it came through, who opened its conversation...); 409
  already decided.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals.audit import client_address
from approvals.models import ApprovalRequest, ApprovalStatus, CauseKind, Verdict
from approvals.selectors import (
    MAX_LIST,
    approval_get,
    approval_json,
    approval_list,
    approvals_pending_for,
)
from approvals.services import (
    action_propose,
    approval_decide,
    proposal_json,
)
from conversations.models import Conversation
from core.api_auth import (
    ApiKeyClient,
    request_principal,
    request_tenant,
)
from core.limits import MAX_REASON
from core.scoping import scope_queryset


class ActionInSerializer(serializers.Serializer):
    action = serializers.CharField(max_length=100)
    params = serializers.JSONField(required=False, default=dict)
    idempotencyKey = serializers.CharField(max_length=200)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=MAX_REASON, required=False, allow_blank=True, trim_whitespace=True
    )


class ExecutionShape(serializers.Serializer):
    id = serializers.IntegerField()
    conversationId = serializers.UUIDField()
    approvalId = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()
    params = serializers.DictField()
    status = serializers.ChoiceField(choices=["queued", "running", "succeeded", "failed"])
    attempts = serializers.IntegerField()
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    executionKey = serializers.CharField()
    idempotencyKey = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True)


class DecisionShape(serializers.Serializer):
    approver = serializers.CharField()
    verdict = serializers.ChoiceField(choices=Verdict.values)
    reason = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()


class CauseShape(serializers.Serializer):
    username = serializers.CharField()
    how = serializers.ChoiceField(choices=CauseKind.values)
    key = serializers.CharField(required=False, help_text="The API key, for the kinds *_key.")


class ApprovalShape(serializers.Serializer):
    id = serializers.IntegerField()
    conversationId = serializers.UUIDField()
    action = serializers.CharField()
    params = serializers.DictField()
    status = serializers.ChoiceField(choices=ApprovalStatus.values)
    requestedBy = serializers.CharField()
    causedBy = CauseShape(
        many=True, help_text="The people who caused the request; none of them may decide it."
    )
    approvers = serializers.ListField(child=serializers.CharField())
    quorum = serializers.IntegerField()
    approvals = serializers.IntegerField(help_text="Approvals counted so far.")
    decisions = DecisionShape(many=True)
    decidedBy = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    rule = serializers.CharField(allow_null=True)
    why = serializers.ListField(child=serializers.CharField())
    idempotencyKey = serializers.CharField()
    execution = ExecutionShape(allow_null=True)
    createdAt = serializers.DateTimeField()
    decidedAt = serializers.DateTimeField(allow_null=True)
    expiresAt = serializers.DateTimeField()


class ActionsView(APIView):
    @extend_schema(
        request=ActionInSerializer,
        responses={
            200: inline_serializer(
                "ActionRan",
                {
                    "execution": ExecutionShape(required=False),
                    "approval": ApprovalShape(required=False),
                },
            ),
            202: inline_serializer("ActionWaits", {"approval": ApprovalShape()}),
        },
        description="Propose an action on the conversation. It runs at once unless the "
        "approval rules of the conversation's agent make it wait for approvers.",
    )
    def post(self, request, conversation_id):
        conversation = get_object_or_404(
            scope_queryset(
                Conversation.objects.select_related("tenant", "current_agent"),
                request_tenant(request),
            ),
            pk=conversation_id,
        )
        serializer = ActionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        principal = request_principal(request)
        ip, user_agent = client_address(request)
        proposal = action_propose(
            conversation=conversation,
            action=data["action"],
            params=data["params"],
            idempotency_key=data["idempotencyKey"],
            requested_by=principal.user,
            requested_by_key=principal.key,
            requested_by_label=principal.label,
            ip=ip,
            user_agent=user_agent,
            run_now=True,
        )
        code = status.HTTP_202_ACCEPTED if proposal.waiting else status.HTTP_200_OK
        return Response(proposal_json(proposal), status=code)


def _bounded_int(raw, name: str, *, default: int | None, top: int | None = None) -> int | None:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise exceptions.ValidationError({name: ["must be a whole number"]}) from None
    if value < 1:
        raise exceptions.ValidationError({name: ["must be at least 1"]})
    return min(value, top) if top else value


class ApprovalListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                str,
                description="One status or several, comma-separated: "
                + ", ".join(ApprovalStatus.values),
            ),
            OpenApiParameter("conversationId", str),
            OpenApiParameter("action", str),
            OpenApiParameter(
                "mine", bool, description="Only pending requests you may decide (people)."
            ),
            OpenApiParameter("before", int, description="Only requests with a smaller id."),
            OpenApiParameter("limit", int, description=f"At most {MAX_LIST}; default 50."),
        ],
        responses=ApprovalShape(many=True),
    )
    def get(self, request):
        params = request.query_params
        if params.get("mine") in ("1", "true", "yes"):
            if isinstance(request.user, ApiKeyClient):
                return Response([])
            limit = _bounded_int(params.get("limit"), "limit", default=50, top=MAX_LIST)
            return Response([approval_json(a) for a in approvals_pending_for(request.user)[:limit]])
        statuses = [s for s in (params.get("status") or "").split(",") if s]
        unknown = sorted(set(statuses) - set(ApprovalStatus.values))
        if unknown:
            raise exceptions.ValidationError({"status": [f"unknown status {', '.join(unknown)}"]})
        conversation_id = params.get("conversationId") or None
        if conversation_id:
            try:
                Conversation._meta.pk.to_python(conversation_id)
            except DjangoValidationError:
                raise exceptions.ValidationError(
                    {"conversationId": ["must be a conversation id"]}
                ) from None
        approvals = approval_list(
            tenant=request_tenant(request),
            status=statuses or None,
            conversation_id=conversation_id,
            action=params.get("action") or None,
            before_id=_bounded_int(params.get("before"), "before", default=None),
            limit=_bounded_int(params.get("limit"), "limit", default=50, top=MAX_LIST),
        )
        return Response([approval_json(a) for a in approvals])


def _approval(request, approval_id: int) -> ApprovalRequest:
    try:
        return approval_get(tenant=request_tenant(request), approval_id=approval_id)
    except ApprovalRequest.DoesNotExist:
        raise exceptions.NotFound("No such approval request.") from None


class ApprovalDetailView(APIView):
    @extend_schema(responses=ApprovalShape)
    def get(self, request, approval_id):
        return Response(approval_json(_approval(request, approval_id)))


class ApprovalDecideView(APIView):
    verdict = Verdict.APPROVE

    @extend_schema(
        request=ReasonSerializer,
        responses=ApprovalShape,
        description="Decide as one of the request's approvers (a reason is required to deny).",
    )
    def post(self, request, approval_id):
        approval = _approval(request, approval_id)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ip, user_agent = client_address(request)
        decided = approval_decide(
            approval=approval,
            user=request.user,
            verdict=self.verdict,
            reason=serializer.validated_data.get("reason", ""),
            ip=ip,
            user_agent=user_agent,
        )
        return Response(approval_json(decided))


class ApproveView(ApprovalDecideView):
    verdict = Verdict.APPROVE


class DenyView(ApprovalDecideView):
    verdict = Verdict.DENY


urlpatterns = [
    path(
        "conversations/<uuid:conversation_id>/actions",
        ActionsView.as_view(),
        name="api-conversation-actions",
    ),
    path("approvals", ApprovalListView.as_view(), name="api-approvals"),
    path("approvals/<int:approval_id>", ApprovalDetailView.as_view(), name="api-approval"),
    path("approvals/<int:approval_id>/approve", ApproveView.as_view(), name="api-approval-approve"),
    path("approvals/<int:approval_id>/deny", DenyView.as_view(), name="api-approval-deny"),
]
