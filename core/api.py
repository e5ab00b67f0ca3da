"""API v1 for the caller's own tenant: who am I, and the tenant's API keys (managers only)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from core import services
from core.api_auth import (
    ApiKeyClient,
    request_roles,
    request_tenant,
)
from core.models import ApiKey
from core.scoping import scope_queryset


class ApiKeySerializer(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)
    revokedAt = serializers.DateTimeField(source="revoked_at", read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "createdAt", "lastUsedAt", "revokedAt"]
        read_only_fields = ["id", "prefix"]


class MeView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "tenant": serializers.DictField(),
                "principal": serializers.DictField(),
            },
        )
    )
    def get(self, request):
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        if isinstance(request.user, ApiKeyClient):
            principal = {"type": "apiKey", "name": request.user.api_key.name, "roles": []}
        else:
            principal = {
                "type": "user",
                "name": request.user.get_username(),
                "roles": request_roles(request),
            }
        return Response(
            {
                "tenant": {"slug": tenant.slug, "name": tenant.name, "timeZone": tenant.time_zone},
                "principal": principal,
            }
        )


class ApiKeyListView(APIView):
    def _queryset(self, request):
        return scope_queryset(ApiKey.objects.all(), request_tenant(request))

    @extend_schema(responses=ApiKeySerializer(many=True))
    def get(self, request):
        return Response(ApiKeySerializer(self._queryset(request), many=True).data)

    @extend_schema(
        request=ApiKeySerializer,
        responses={201: ApiKeySerializer},
        description="Creates a key. The answer's `key` is the only time the secret is shown.",
    )
    def post(self, request):
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant = request_tenant(request)
        assert tenant is not None  # MatrixPermission let in only callers of a tenant
        api_key, raw = services.api_key_create(
            tenant=tenant,
            name=serializer.validated_data["name"],
            created_by=request.user,
        )
        return Response({**ApiKeySerializer(api_key).data, "key": raw}, status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    def _get(self, request, key_id: int) -> ApiKey:
        keys = scope_queryset(ApiKey.objects.all(), request_tenant(request))
        return get_object_or_404(keys, pk=key_id)

    @extend_schema(responses=ApiKeySerializer)
    def get(self, request, key_id: int):
        return Response(ApiKeySerializer(self._get(request, key_id)).data)


class ApiKeyRevokeView(ApiKeyDetailView):
    http_method_names = ["post", "options"]

    @extend_schema(request=None, responses=ApiKeySerializer)
    def post(self, request, key_id: int):
        api_key = services.api_key_revoke(api_key=self._get(request, key_id))
        return Response(ApiKeySerializer(api_key).data)


urlpatterns = [
    path("me", MeView.as_view(), name="api-me"),
    path("api-keys", ApiKeyListView.as_view(), name="api-keys"),
    path("api-keys/<int:key_id>", ApiKeyDetailView.as_view(), name="api-key"),
    path("api-keys/<int:key_id>/revoke", ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]
