"""Writes for tenants, people and credentials. One function per business action."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.config_version import credentials_changed
from core.currencies import DEFAULT_CURRENCY
from core.events import (
    notify_on_commit,
    person_group,
)
from core.models import (
    ApiKey,
    Membership,
    PersonalToken,
    PersonSession,
    Role,
    Tenant,
)
from core.permissions import forget_hats

API_KEY_KIND = "tka"
PERSONAL_TOKEN_KIND = "tkp"
PREFIX_LENGTH = 12


def hash_secret(raw: str) -> str:
    """Digest of a bearer secret. The secrets carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_secret(kind: str) -> tuple[str, str, str]:
    raw = f"{kind}_{secrets.token_urlsafe(32)}"
    return raw, raw[:PREFIX_LENGTH], hash_secret(raw)


@transaction.atomic
def tenant_create(
    *, slug: str, name: str = "", time_zone: str = "UTC", currency: str = DEFAULT_CURRENCY
) -> Tenant:
    tenant = Tenant(
        slug=slug,
        name=name or slug.replace("-", " ").title(),
        time_zone=time_zone,
        currency=currency,
    )
    tenant.full_clean()
    tenant.save()
    return tenant


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, created_by: User | None = None):
    """Make a tenant API key. Returns ``(api_key, raw_key)``; the raw key is never stored."""
    raw, prefix, digest = _new_secret(API_KEY_KIND)
    api_key = ApiKey(
        tenant=tenant, name=name, prefix=prefix, key_hash=digest, created_by=created_by
    )
    api_key.full_clean()
    api_key.save()
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key: refused from now on by this process, by every other within
    ``CONFIG_CHECK_SECONDS`` (they keep keys cached, ``core.selectors``)."""
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    ):
        credentials_changed()
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


@transaction.atomic
def personal_token_create(*, user: User, name: str):
    """Make a personal token for ``user``. Returns ``(token, raw_token)``."""
    raw, prefix, digest = _new_secret(PERSONAL_TOKEN_KIND)
    token = PersonalToken(user=user, name=name, prefix=prefix, key_hash=digest)
    token.full_clean()
    token.save()
    return token, raw


def personal_token_revoke(*, token: PersonalToken) -> PersonalToken:
    PersonalToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    return token


def _clean_roles(roles: Iterable[str]) -> set[str]:
    roles = set(roles)
    unknown = roles - set(Role.values)
    if unknown:
        raise ValidationError(
            {"roles": f"Unknown role {sorted(unknown)[0]!r}; choose from {', '.join(Role.values)}."}
        )
    return roles


@transaction.atomic
def membership_set(*, user: User, tenant: Tenant, roles: Iterable[str]) -> Membership:
    """Put ``user`` in ``tenant`` with exactly ``roles``. Managers are staff (they use the
    admin); superusers keep their staff status whatever their roles. A person whose tenant or
    roles changed has their open sockets re-check who they are (after commit): one that lost
    what it was opened with closes."""
    roles = _clean_roles(roles)
    membership, created = Membership.objects.select_for_update().get_or_create(
        user=user, defaults={"tenant": tenant}
    )
    before = (membership.tenant_id, set(membership.roles))
    membership.tenant = tenant
    membership.is_manager = Role.MANAGER in roles
    membership.is_agent = Role.AGENT in roles
    membership.is_approver = Role.APPROVER in roles
    membership.save()
    staff = membership.is_manager or user.is_superuser
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])
    forget_hats(user)
    if not created and before != (membership.tenant_id, set(membership.roles)):
        person_access_changed(user=user)
    return membership


def person_access_changed(*, user: User) -> None:
    """Something about who ``user`` is changed (roles, tenant, approver groups, active): after
    commit, every open socket of theirs re-checks against the permission matrix and closes if
    they lost what it needs (4403), or if they are no longer active (4401). A person who is
    not active any more loses their sessions too."""
    forget_hats(user)
    if not user.is_active:
        PersonSession.objects.filter(user_id=user.pk).delete()
    notify_on_commit([person_group(user.pk)], {"type": "access.changed"})


@transaction.atomic
def person_set_active(*, user: User, active: bool) -> None:
    """Activate or deactivate a person. Deactivated, their sessions end and, after commit,
    their open sockets close (4401); personal tokens stop working while they are inactive."""
    get_user_model().objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    person_access_changed(user=user)


@transaction.atomic
def person_delete(*, user: User) -> None:
    """Delete a person: their sessions end and, after commit, their open sockets close."""
    PersonSession.objects.filter(user_id=user.pk).delete()
    notify_on_commit([person_group(user.pk)], {"type": "access.changed"})
    user.delete()


@transaction.atomic
def person_sign_out_everywhere(*, user: User) -> int:
    """End every session of ``user`` (each browser is signed out at its next request) and,
    after commit, close their open sockets (4401). Personal tokens stay as they are: they are
    revoked one by one. Returns how many sessions ended."""
    ended, _ = PersonSession.objects.filter(user_id=user.pk).delete()
    notify_on_commit([person_group(user.pk)], {"type": "access.changed"})
    return ended


@transaction.atomic
def user_create(
    *,
    username: str,
    tenant: Tenant,
    roles: Iterable[str],
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
) -> tuple[User, str | None]:
    """Create a person in a tenant. Without a password one is generated and returned
    (``(user, generated_password)``) so it can be shown once."""
    roles = _clean_roles(roles)
    user_model = get_user_model()
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(12)
    user = user_model(username=username, email=email, first_name=first_name, last_name=last_name)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    membership_set(user=user, tenant=tenant, roles=roles)
    return user, generated
