"""Tenant scoping in one place: which tenant a person or key acts for, and how a query of any
model is narrowed to one tenant. The admin base, the API and the selectors all use this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from core.models import (
    Membership,
    Tenant,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

_MISSING = object()


def membership_of(user: AbstractBaseUser | AnonymousUser | Any) -> Membership | None:
    """The person's membership (with its tenant), cached on the user object for the request."""
    pk = getattr(user, "pk", None)
    if not getattr(user, "is_authenticated", False) or not pk:
        return None
    cached = user.__dict__.get("_membership_cache", _MISSING)
    if cached is _MISSING:
        cached = Membership.objects.select_related("tenant").filter(user_id=pk).first()
        user.__dict__["_membership_cache"] = cached
    return cached


def tenant_of(user: Any) -> Tenant | None:
    membership = membership_of(user)
    return membership.tenant if membership else None


def managed_tenant(user: Any) -> Tenant | None:
    """The tenant this person manages in the admin, or None (superusers manage all)."""
    membership = membership_of(user)
    if membership is None or not membership.is_manager or not user.is_active:
        return None
    return membership.tenant


def tenant_lookup(model: type[models.Model]) -> str:
    """The ORM lookup from ``model`` to its tenant."""
    if model is Tenant:
        return "pk"
    if model is get_user_model():
        return "membership__tenant"
    path = getattr(model, "tenant_path", None)
    if path:
        return path
    if any(field.name == "tenant" for field in model._meta.get_fields()):
        return "tenant"
    raise ImproperlyConfigured(f"{model.__name__} has no tenant: give it a tenant_path")


def is_tenant_scoped(model: type[models.Model]) -> bool:
    try:
        tenant_lookup(model)
    except ImproperlyConfigured:
        return False
    return True


def scope_queryset(queryset: models.QuerySet, tenant: Tenant | None) -> models.QuerySet:
    """Narrow any query to one tenant; ``None`` means no tenant and so no rows."""
    if tenant is None:
        return queryset.none()
    lookup = tenant_lookup(queryset.model)
    return queryset.filter(**{lookup: tenant.pk if lookup == "pk" else tenant})
