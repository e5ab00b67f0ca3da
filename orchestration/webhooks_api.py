"""API v1: the tenant's webhook endpoints (``core.webhooks``, ``orchestration.webhooks``), as in
the admin: ``GET/POST /api/v1/webhooks`` (the secret is in the 201 alone), ``PATCH/DELETE
/api/v1/webhooks/{id}``, ``POST /api/v1/webhooks/{id}/test`` and ``GET
/api/v1/webhooks/{id}/deliveries`` (the latest 100, newest first). A manager's, or an
integration's (which sets up its own endpoint)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_auth import request_tenant
from core.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEventType
from core.webhooks import EVENT_TYPES
from orchestration.webhooks import (
    endpoint_create,
    endpoint_delete,
    endpoint_test,
    endpoint_update,
)

DELIVERIES_SHOWN = 100


def endpoint_json(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "active": endpoint.active,
        "createdAt": endpoint.created_at,
        "failingSince": endpoint.failing_since,
        "failures": endpoint.failures,
        "disabledAt": endpoint.disabled_at,
    }


def delivery_json(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.pk,
        "webhookId": delivery.message_id,
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "responseStatus": delivery.response_status,
        "lastError": delivery.last_error,
        "createdAt": delivery.created_at,
        "attemptedAt": delivery.attempted_at,
        "deliveredAt": delivery.delivered_at,
    }


class EndpointShape(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)))
    active = serializers.BooleanField()
    createdAt = serializers.DateTimeField()
    failingSince = serializers.DateTimeField(
        allow_null=True, help_text="Every attempt since then failed (null: it delivers)."
    )
    failures = serializers.IntegerField(help_text="Attempts failed since failingSince.")
    disabledAt = serializers.DateTimeField(
        allow_null=True,
        help_text="When it was switched off by itself, every attempt having failed for "
        "WEBHOOK_DISABLE_AFTER_HOURS (5 days by default; null: it was not); PATCH active: true "
        "switches it on again.",
    )


class EndpointMade(EndpointShape):
    secret = serializers.CharField(help_text="whsec_...: shown in this answer alone.")


class EndpointIn(serializers.Serializer):
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)))
    description = serializers.CharField(required=False, allow_blank=True)


class EndpointChange(serializers.Serializer):
    url = serializers.URLField(required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(EVENT_TYPES)), required=False
    )
    description = serializers.CharField(required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class DeliveryShape(serializers.Serializer):
    id = serializers.IntegerField()
    webhookId = serializers.CharField(help_text="The webhook-id header of every attempt.")
    event = serializers.ChoiceField(choices=WebhookEventType.values)
    status = serializers.ChoiceField(choices=DeliveryStatus.values)
    attempts = serializers.IntegerField()
    responseStatus = serializers.IntegerField(allow_null=True)
    lastError = serializers.CharField()
    createdAt = serializers.DateTimeField()
    attemptedAt = serializers.DateTimeField(allow_null=True)
    deliveredAt = serializers.DateTimeField(allow_null=True)


def _body(request: Request) -> dict:
    return request.data if isinstance(request.data, dict) else {}


def _endpoint(request: Request, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(
        WebhookEndpoint.objects.filter(tenant=request_tenant(request)), pk=endpoint_id
    )


class WebhookListView(APIView):
    """The tenant's webhook endpoints."""

    @extend_schema(responses=EndpointShape(many=True))
    def get(self, request: Request) -> Response:
        endpoints = WebhookEndpoint.objects.filter(tenant=request_tenant(request))
        return Response([endpoint_json(e) for e in endpoints])

    @extend_schema(
        request=EndpointIn,
        responses={201: EndpointMade},
        examples=[
            OpenApiExample(
                "A CRM that hears of resolved conversations",
                value={
                    "url": "https://crm.example.com/hooks/support",
                    "events": ["conversation.resolved", "csat.rated"],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        """Add an endpoint; the answer holds its signing secret, shown this once."""
        data = _body(request)
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        endpoint, raw = endpoint_create(
            tenant_id=tenant.pk,
            url=data.get("url"),
            events=data.get("events"),
            description=data.get("description", ""),
        )
        return Response({**endpoint_json(endpoint), "secret": raw}, status=201)


class WebhookDetailView(APIView):
    @extend_schema(request=EndpointChange, responses=EndpointShape)
    def patch(self, request: Request, endpoint_id: int) -> Response:
        """Change its URL, events or description, or switch it off (``active: false``)."""
        endpoint = endpoint_update(_endpoint(request, endpoint_id), _body(request))
        return Response(endpoint_json(endpoint))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, endpoint_id: int) -> Response:
        """Delete it with its deliveries."""
        endpoint_delete(_endpoint(request, endpoint_id))
        return Response(status=204)


class WebhookTestView(APIView):
    @extend_schema(request=None, responses={202: DeliveryShape})
    def post(self, request: Request, endpoint_id: int) -> Response:
        """Send it a ``webhook.test`` event (whatever it subscribed to)."""
        return Response(delivery_json(endpoint_test(_endpoint(request, endpoint_id))), status=202)


class WebhookDeliveriesView(APIView):
    @extend_schema(responses=DeliveryShape(many=True))
    def get(self, request: Request, endpoint_id: int) -> Response:
        """Its latest deliveries, newest first, with their outcome."""
        deliveries = _endpoint(request, endpoint_id).deliveries.order_by("-created_at", "-id")
        return Response([delivery_json(d) for d in deliveries[:DELIVERIES_SHOWN]])


urlpatterns = [
    path("webhooks", WebhookListView.as_view(), name="api-webhooks"),
    path("webhooks/<int:endpoint_id>", WebhookDetailView.as_view(), name="api-webhook"),
    path("webhooks/<int:endpoint_id>/test", WebhookTestView.as_view(), name="api-webhook-test"),
    path(
        "webhooks/<int:endpoint_id>/deliveries",
        WebhookDeliveriesView.as_view(),
        name="api-webhook-deliveries",
    ),
]
