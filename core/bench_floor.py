"""The stack's floor, for bench/pipeline.py only (issue 17): a DRF endpoint that costs what every
API write costs and nothing of the product's own work, to measure the pipeline against on the
same server in the same run.

``POST /api/v1/bench/floor {"text": "..."}``: the API key's authentication, the caller's
tenant, the per-key rate limit (``ApiRateThrottle``, the API's default) and one INSERT, into
``bench_floor``, a table the bench creates in its own database. Served only when the setting
``BENCH_FLOOR`` is on (the bench's server); no product route, no row in the permission matrix.
"""

from __future__ import annotations

from django.db import connection
from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_auth import request_tenant

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, tenant_id bigint NOT NULL, "
    "text text NOT NULL, created_at timestamptz NOT NULL)"
)


class TenantCaller(permissions.BasePermission):
    """The matrix's first two checks: authenticated, and acting for a tenant."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and (
            request_tenant(request) is not None
        )


class FloorView(APIView):
    permission_classes = [TenantCaller]

    def post(self, request):
        tenant = request_tenant(request)
        assert tenant is not None
        text = request.data.get("text") if isinstance(request.data, dict) else None
        if not isinstance(text, str) or not text:
            raise ValidationError({"text": "a non-empty string is required"})
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_floor (tenant_id, text, created_at) "
                "VALUES (%s, %s, CURRENT_TIMESTAMP) RETURNING id",
                [tenant.pk, text],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id}, status=201)
