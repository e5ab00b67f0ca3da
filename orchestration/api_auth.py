"""API authentication: ``Authorization: Bearer <key>`` for tenant API keys and personal tokens,
sessions for pages; and the permission every API view starts from."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import cached_property
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from orchestration.models import ApiKey, PersonalToken, Tenant
from orchestration.principals import Principal
from orchestration.scoping import membership_of
from orchestration.selectors import credential_for_bearer


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
        return request.user.api_key.tenant
    membership = membership_of(request.user)
    return membership.tenant if membership else None


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


class IsTenantPrincipal(permissions.BasePermission):
    """Authenticated, and acting for a tenant (a key, or a person who belongs to one)."""

    message = "Your account does not belong to a tenant."

    def has_permission(self, request: Request, view) -> bool:
        # Unauthenticated requests are answered 401 by DRF (the bearer scheme is advertised).
        if not (request.user and request.user.is_authenticated):
            return False
        return request_tenant(request) is not None


class HasRole(IsTenantPrincipal):
    """A person in the tenant holding ``role``; integration keys are refused."""

    role = ""

    def has_permission(self, request: Request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if self.role not in request_roles(request):
            self.message = f"This needs the {self.role} role."
            return False
        return True


class IsManager(HasRole):
    role = "manager"


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
