"""API v1: erasing a customer's data at their request (``orchestration.erasure``).

``POST /api/v1/erasures`` ``{"kind": "email" | "customer" | "conversation", "value": ...}``
deletes every conversation of that customer and answers 201 with what went; ``GET`` lists the
tenant's erasures (the customer only as a keyed hash). A manager's, or an integration's (a
privacy tool that carries out the requests it receives).
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import Erasure, ErasureKind
from core.api_auth import request_principal, request_tenant
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


urlpatterns = [path("erasures", ErasureListView.as_view(), name="api-erasures")]
