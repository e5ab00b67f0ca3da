"""The customers over the API (``handover.customers``): ``GET /api/v1/customers`` (searched,
a page at a time) and ``GET /api/v1/customers/{customerId}`` (what is known of one, and their
conversations), for an integration (a CRM) or a person's token, narrowed to what the caller
reaches as the inbox's Customers page is."""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import Conversation
from core.api_auth import request_tenant
from core.errors import Invalid
from core.json_input import text_problem
from core.scoping import scope_queryset
from handover.customers import (
    CUSTOMERS_PAGE,
    SEARCH_MAX,
    CustomerRow,
    customer_profile,
    customers_found,
)
from orchestration.reach import narrow_conversations

MAX_PAGE = 1000


class CustomerRowShape(serializers.Serializer):
    id = serializers.CharField(help_text="The customer id their conversations carry.")
    name = serializers.CharField(help_text="Their latest conversation's.")
    email = serializers.CharField(help_text="Their latest conversation's ('' when none).")
    verified = serializers.BooleanField(help_text="A website signed for them in a chat.")
    conversations = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Their conversations not resolved.")
    lastActivityAt = serializers.DateTimeField()


class CustomerConversationShape(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    channel = serializers.CharField()
    assignee = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    lastActivityAt = serializers.DateTimeField()
    lastMessage = serializers.CharField(help_text="The last one the customer was shown.")


def _reachable(request):
    return narrow_conversations(
        scope_queryset(Conversation.objects.all(), request_tenant(request)), request.reach
    )


def customer_row_json(row: CustomerRow) -> dict:
    return {
        "id": row.customer_id,
        "name": row.name,
        "email": row.email,
        "verified": row.verified,
        "conversations": row.conversations,
        "open": row.open,
        "lastActivityAt": row.last_activity_at,
    }


class CustomerListView(APIView):
    @extend_schema(
        operation_id="v1_customers_list",
        parameters=[
            OpenApiParameter("q", str, description="Words of their name, e-mail address or id."),
            OpenApiParameter("page", int, description=f"{CUSTOMERS_PAGE} a page, from 1."),
        ],
        responses=inline_serializer(
            "Customers",
            {
                "results": CustomerRowShape(many=True),
                "next": serializers.IntegerField(
                    allow_null=True, help_text="The next page's number; null on the last."
                ),
            },
        ),
        description="The customers of the conversations you reach, one each by their customer "
        "id, the latest activity first.",
    )
    def get(self, request):
        q = request.query_params.get("q", "")
        if len(q) > SEARCH_MAX or text_problem(q):
            raise Invalid(fields={"q": f"must be text of at most {SEARCH_MAX} characters"})
        raw_page = request.query_params.get("page") or "1"
        if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
            raise Invalid(fields={"page": f"must be a number from 1 to {MAX_PAGE}"})
        page = int(raw_page)
        rows, more = customers_found(request_tenant(request), _reachable(request), q, page)
        return Response(
            {"results": [customer_row_json(r) for r in rows], "next": page + 1 if more else None}
        )


class CustomerDetailView(APIView):
    @extend_schema(
        operation_id="v1_customers_retrieve",
        responses=inline_serializer(
            "Customer",
            {
                "id": serializers.CharField(),
                "name": serializers.CharField(),
                "email": serializers.CharField(),
                "verified": serializers.BooleanField(),
                "attributes": serializers.DictField(
                    help_text="What the integration (or the chat's website) told of them, in "
                    "their latest conversation."
                ),
                "blocked": serializers.BooleanField(
                    help_text="A standing block: they start no new conversation."
                ),
                "conversations": CustomerConversationShape(many=True),
                "more": serializers.BooleanField(
                    help_text="More than these 100: the history finds them all."
                ),
            },
        ),
        description="What is known of the customer and their conversations you reach, the "
        "latest first: those with this customer id, and those from their e-mail address under "
        "another id (their mails, when they chatted and left the address); 404 when you reach "
        "none with this id.",
    )
    def get(self, request, customer_id: str):
        profile = customer_profile(request_tenant(request), _reachable(request), customer_id)
        if profile is None:
            raise Http404
        return Response(
            {
                "id": customer_id,
                "name": profile["name"],
                "email": profile["email"],
                "verified": profile["verified"],
                "attributes": profile["attributes_raw"],
                "blocked": profile["blocked"],
                "conversations": [
                    {
                        "id": str(c.pk),
                        "state": c.state,
                        "channel": c.channel,
                        "assignee": c.assignee.get_username() if c.assignee_id else None,
                        "createdAt": c.created_at,
                        "lastActivityAt": c.last_activity_at,
                        "lastMessage": c.last_text or "",
                    }
                    for c in profile["conversations"]
                ],
                "more": profile["more"],
            }
        )


urlpatterns = [
    path("customers", CustomerListView.as_view(), name="api-customers"),
    path("customers/<path:customer_id>", CustomerDetailView.as_view(), name="api-customer"),
]
