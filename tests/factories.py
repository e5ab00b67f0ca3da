"""Factories for the tests. Rows are made through the same services the product uses where a
service exists (people, keys), so a factory never makes a state the product could not."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from core import services
from core.models import Tenant

PASSWORD = "correct-horse-battery"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    time_zone = "UTC"


def make_person(*, tenant: Tenant | None, roles=(), username: str | None = None, **extra):
    """A person in ``tenant`` with ``roles`` and the password ``PASSWORD``."""
    username = username or f"person{get_user_model().objects.count() + 1}"
    if tenant is None:
        user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
        return user
    user, _ = services.user_create(
        username=username, tenant=tenant, roles=roles, password=PASSWORD, **extra
    )
    return user


def make_api_key(*, tenant: Tenant, name: str = "integration", created_by=None):
    """Returns ``(api_key, raw_key)``."""
    return services.api_key_create(tenant=tenant, name=name, created_by=created_by)
