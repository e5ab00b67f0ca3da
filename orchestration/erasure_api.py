"""API v1: a customer's data at their request: erased (``orchestration.erasure``) or exported
(``orchestration.customer_export``).

``POST /api/v1/erasures`` ``{"kind": "email" | "customer" | "conversation", "value": ...}``
deletes every conversation of that customer and answers 201 with what went; ``GET`` lists the
tenant's erasures (the customer only as a keyed hash). ``GET
/api/v1/customer-data?kind=...&value=...`` answers everything kept about them (``download=1``:
as a file to save). A manager's, or an integration's (a privacy tool that carries out the
requests it receives).
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import Erasure, ErasureKind
from core.api_auth import request_principal, request_tenant
from orchestration.customer_export import customer_export
from orchestration.erasure import customer_erase


def erasure_json(erasure: Erasure) -> dict:
    return {
        "id": erasure.pk,
        "kind": erasure.kind,
        "valueHash": erasure.value_hash,
        "erasedBy": erasure.erased_by,
        "conversations": erasure.conversations,
        "messages": erasure.messages,
        "files": erasure.files,
        "createdAt": erasure.created_at,
    }


class ErasureShape(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ErasureKind.choices)
    valueHash = serializers.CharField(help_text="A keyed hash of the customer's name as given.")
    erasedBy = serializers.CharField()
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    files = serializers.IntegerField()
    createdAt = serializers.DateTimeField()


class ErasureIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ErasureKind.choices)
    value = serializers.CharField(
        help_text="The e-mail address (any case), the customer id, or a conversation's id "
        "(that conversation's customer: its customer id and e-mail address)."
    )


class ErasureListView(APIView):
    """Erase a customer's data at their request; the erasures made."""

    @extend_schema(responses=ErasureShape(many=True))
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        return Response([erasure_json(e) for e in Erasure.objects.filter(tenant=tenant)[:1000]])

    @extend_schema(
        request=ErasureIn,
        responses={201: ErasureShape},
        examples=[
            OpenApiExample(
                "By e-mail address",
                value={"kind": "email", "value": "kim@example.com"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Delete every conversation of the customer, for good (409 while an approval of
        theirs waits or an action runs)."""
        data = request.data if isinstance(request.data, dict) else {}
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        erasure = customer_erase(
            tenant_id=tenant.pk,
            kind=data.get("kind"),
            value=data.get("value"),
            by=request_principal(request),
        )
        return Response(erasure_json(erasure), status=201)


class CustomerDataView(APIView):
    """Everything kept about a customer, to send them at their request."""

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=ErasureKind.values, required=True),
            OpenApiParameter(
                "value",
                str,
                required=True,
                description="The e-mail address, the customer id, or a conversation's id.",
            ),
            OpenApiParameter(
                "download", bool, description="As a file to save (Content-Disposition)."
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        exported = customer_export(
            tenant_id=tenant.pk,
            kind=request.query_params.get("kind"),
            value=request.query_params.get("value"),
        )
        response = Response(exported)
        if request.query_params.get("download") in ("1", "true"):
            day = exported["exportedAt"].date().isoformat()
            response["Content-Disposition"] = f'attachment; filename="customer-data-{day}.json"'
        return response


urlpatterns = [
    path("erasures", ErasureListView.as_view(), name="api-erasures"),
    path("customer-data", CustomerDataView.as_view(), name="api-customer-data"),
]
