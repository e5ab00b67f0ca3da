"""API authentication: ``Authorization: Bearer <key>`` for tenant API keys and personal tokens,
sessions for pages; and the one permission of every API view, which reads the permission
matrix (``orchestration/permissions.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import cast

from django.shortcuts import get_object_or_404
from django.utils.functional import cached_property
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from core import permissions as permissions_table
from core.models import (
    ApiKey,
    PersonalToken,
    Tenant,
)
from core.observability import context
from core.principals import Principal
from core.scoping import membership_of, scope_queryset
from core.selectors import credential_for_bearer


@dataclass(eq=False)
class ApiKeyClient:
    """``request.user`` for a call made with a tenant API key: the integration, not a person."""

    api_key: ApiKey
    is_authenticated: bool = field(default=True, init=False)
    is_anonymous: bool = field(default=False, init=False)
    is_active: bool = field(default=True, init=False)
    is_staff: bool = field(default=False, init=False)
    is_superuser: bool = field(default=False, init=False)
    pk: None = field(default=None, init=False)

    @cached_property
    def username(self) -> str:
        return f"api-key:{self.api_key.name}"

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <key>'."
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The key contains invalid characters.") from None
        credential = credential_for_bearer(raw)
        if credential is None:
            raise exceptions.AuthenticationFailed("Unknown API key or token.")
        if not credential.is_active:
            raise exceptions.AuthenticationFailed("This API key or token has been revoked.")
        if isinstance(credential, PersonalToken):
            if not credential.user.is_active:
                raise exceptions.AuthenticationFailed("This account is disabled.")
            return credential.user, credential
        return ApiKeyClient(credential), credential

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def request_tenant(request: Request) -> Tenant | None:
    """The tenant an API request acts for: the key's, or the person's."""
    if isinstance(request.user, ApiKeyClient):
        tenant = request.user.api_key.tenant
    else:
        membership = membership_of(request.user)
        tenant = membership.tenant if membership else None
    context.bind(tenant_id=tenant.pk if tenant else None)  # the logs' tenant id
    return tenant


def tenant_get_or_404(request: Request, model, **lookup):
    """The object of the caller's tenant matching ``lookup``; 404 (as another tenant's object
    is) when there is none."""
    return get_object_or_404(scope_queryset(model.objects.all(), request_tenant(request)), **lookup)


def request_principal(request: Request) -> Principal:
    """Who made an API request: the integration key, or the person (session or token)."""
    if isinstance(request.user, ApiKeyClient):
        return Principal(key=request.user.api_key)
    if getattr(request.user, "is_authenticated", False) and getattr(request.user, "pk", None):
        return Principal(user=request.user)
    return Principal()


def request_roles(request: Request) -> list[str]:
    """The roles of the person behind a request; an integration key holds none."""
    if isinstance(request.user, ApiKeyClient):
        return []
    membership = membership_of(request.user)
    return membership.roles if membership else []


def request_hats(request: Request) -> frozenset[str]:
    """The hats (``core.permissions``) of the caller: ``key`` for an integration key;
    ``person`` plus their roles for a person of a tenant."""
    if isinstance(request.user, ApiKeyClient):
        return frozenset({permissions_table.KEY})
    return permissions_table.person_hats(request.user)


_PATH_CONVERTER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def request_operation(request: Request) -> str | None:
    """``METHOD /path`` of a request as the schema and the matrix write it
    (``GET /api/v1/agents/{agent_id}``); HEAD is a GET."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return None
    path = "/" + _PATH_CONVERTER.sub(r"{\1}", match.route)
    method = "GET" if request.method == "HEAD" else request.method
    return f"{method} {path}"


class ReachingRequest(Request):
    """The type of an API request past ``MatrixPermission`` (no class of its own at run time):
    ``reach`` says how far the caller reaches."""

    reach: frozenset[str]


class MatrixPermission(permissions.BasePermission):
    """The one permission of the API: the caller acts for a tenant, and the permission matrix
    has a row for the operation that lets one of the caller's hats through. An operation with no
    row is refused to everyone. ``request.reach`` then says how far the caller reaches (views
    narrow reads with it). OPTIONS describes a route to whoever may use one of its methods."""

    code = "forbidden"
    message = "This operation is not open to you."

    def has_permission(self, request: Request, view) -> bool:
        # Unauthenticated requests are answered 401 by DRF (the bearer scheme is advertised).
        if not (request.user and request.user.is_authenticated):
            return False
        if request_tenant(request) is None:
            self.message = "Your account does not belong to a tenant."
            return False
        method = (request.method or "").lower()
        if method not in view.http_method_names or not hasattr(view, method):
            return True  # no handler runs: DRF answers 405 with the methods there are
        operation = request_operation(request)
        hats = request_hats(request)
        passed = cast(ReachingRequest, request)
        if request.method == "OPTIONS" and operation is not None:
            path = operation.split(" ", 1)[1]
            grants = [g for op, g in permissions_table.API.items() if op.split(" ", 1)[1] == path]
            passed.reach = frozenset().union(*(g.reaches(hats) for g in grants))
            return bool(passed.reach)
        grant = permissions_table.API.get(operation) if operation else None
        if grant is None:
            self.message = (
                f"{operation or request.path} has no row in the permission matrix; "
                "it is refused to everyone."
            )
            return False
        passed.reach = grant.reaches(hats)
        if not passed.reach:
            self.message = f"This needs {grant.needs()}."
            return False
        return True


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bearer scheme in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant API key (tka_...) or a personal token (tkp_...).",
        }
