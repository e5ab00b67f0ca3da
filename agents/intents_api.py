"""API v1 for the tenant's intents (SPEC 4.1 step 2): ``/api/v1/intents`` lists the effective
intents (built-in and the tenant's own, switched-off ones included), ``PUT
/api/v1/intents/<name>`` adds an intent, extends a built-in or switches one off
(``{"enabled": false}``), ``DELETE`` removes the tenant's row (a built-in is then as it
comes). See ``agents.intents``."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.intents import (
    IntentInvalid,
    effective_intent_list,
    intent_delete,
    intent_rows,
    intent_set,
)
from core.api_auth import request_tenant
from core.api_schema import ErrorSerializer


class IntentRequestSerializer(serializers.Serializer):
    keywords = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Single words."
    )
    phrases = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Several words each."
    )
    enabled = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false: the intent is not detected (for a built-in's name: switches it off).",
    )


class IntentSerializer(serializers.Serializer):
    name = serializers.CharField()
    source = serializers.ChoiceField(choices=["built-in", "tenant"])
    enabled = serializers.BooleanField()
    extended = serializers.BooleanField(help_text="A built-in the tenant added terms to.")
    keywords = serializers.ListField(child=serializers.CharField())
    phrases = serializers.ListField(child=serializers.CharField())


def _effective(request, name: str | None = None):
    listed = effective_intent_list(intent_rows(tenant=request_tenant(request)))
    if name is None:
        return listed
    return next((item for item in listed if item["name"] == name), None)


class IntentListView(APIView):
    @extend_schema(
        operation_id="intents_list",
        responses=IntentSerializer(many=True),
        description="The intents the detector uses: the built-in ones (extended or switched "
        "off by the tenant), then the tenant's own; switched-off ones are listed with "
        "enabled false.",
    )
    def get(self, request):
        return Response(_effective(request))


class IntentDetailView(APIView):
    @extend_schema(
        operation_id="intents_set",
        request=IntentRequestSerializer,
        responses={200: IntentSerializer, 201: IntentSerializer, 400: ErrorSerializer},
        description="Add an intent, add keywords and phrases to a built-in one (its name), or "
        'switch an intent off ({"enabled": false}). Replaces the tenant\'s row of that name.',
        examples=[
            OpenApiExample(
                "a new intent",
                value={"keywords": ["chargeback", "dispute"], "phrases": ["wrong amount"]},
                request_only=True,
            ),
            OpenApiExample("switch greeting off", value={"enabled": False}, request_only=True),
        ],
    )
    def put(self, request, name: str):
        try:
            _, created = intent_set(tenant=request_tenant(request), name=name, data=request.data)
        except IntentInvalid as exc:
            raise serializers.ValidationError(exc.errors) from None
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(_effective(request, name), status=code)

    @extend_schema(
        operation_id="intents_destroy",
        responses={204: None, 404: OpenApiResponse(ErrorSerializer)},
        description="Remove the tenant's row: its own intent goes, a built-in is as it comes.",
    )
    def delete(self, request, name: str):
        if not intent_delete(tenant=request_tenant(request), name=name):
            raise NotFound("This tenant has no intent of that name.")
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("intents", IntentListView.as_view(), name="api-intents"),
    path("intents/<str:name>", IntentDetailView.as_view(), name="api-intent"),
]
