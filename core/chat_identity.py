"""The secret a tenant's website signs its signed-in visitors with (``handover.identity``
checks what it signed): made in the admin, shown once, stored sealed (``core.secret_store``),
and removed to stop trusting any identity the website hands the chat."""

from __future__ import annotations

import secrets

from django.utils import timezone

from core.models import Tenant
from core.secret_store import seal

SECRET_PREFIX = "chatid_"


def identity_secret_new(tenant: Tenant) -> str:
    """Give ``tenant`` a new identity secret (the old one no longer verifies anything); the
    secret in clear, to show once."""
    raw = SECRET_PREFIX + secrets.token_urlsafe(32)
    tenant.chat_identity_secret = seal(raw)
    tenant.chat_identity_since = timezone.now()
    Tenant.objects.filter(pk=tenant.pk).update(
        chat_identity_secret=tenant.chat_identity_secret,
        chat_identity_since=tenant.chat_identity_since,
    )
    return raw


def identity_secret_remove(tenant: Tenant) -> None:
    """Stop verifying visitors: a chat started with an identity is then refused."""
    tenant.chat_identity_secret, tenant.chat_identity_since = "", None
    Tenant.objects.filter(pk=tenant.pk).update(chat_identity_secret="", chat_identity_since=None)
