"""The API's rate limit: ``API_RATE_LIMIT`` requests per window for each API key, personal token
or signed-in person (``API_RATE_LIMIT_TENANTS`` overrides it per tenant), counted by
``config.ratelimit``. Over the limit the answer is 429 ``rate_limited`` with ``Retry-After``
(``api_errors`` shapes it). Unauthenticated requests are not counted here: they are answered
401 before any work is done for them."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config import ratelimit
from core.api_auth import (
    ApiKeyClient,
    request_tenant,
)
from core.models import PersonalToken

SCOPE = "api"


@lru_cache(maxsize=64)
def _rate(text: str) -> ratelimit.Rate | None:
    return ratelimit.parse_rate(text, setting="API_RATE_LIMIT")


def api_rate(tenant_slug: str | None) -> ratelimit.Rate | None:
    """The API rate limit of a tenant's callers (None: unlimited)."""
    overrides = settings.API_RATE_LIMIT_TENANTS
    if tenant_slug is not None and tenant_slug in overrides:
        return _rate(overrides[tenant_slug])
    return _rate(settings.API_RATE_LIMIT)


def caller_identity(request: Request) -> str | None:
    """What the limit is counted on: the key, the token, or the person; None if anonymous."""
    user = request.user
    if isinstance(user, ApiKeyClient):
        return f"key:{user.api_key.pk}"
    if isinstance(request.auth, PersonalToken):
        return f"token:{request.auth.pk}"
    if user is not None and user.is_authenticated and user.pk is not None:
        return f"user:{user.pk}"
    return None


class ApiRateThrottle(BaseThrottle):
    verdict: ratelimit.Verdict | None = None

    def allow_request(self, request: Request, view) -> bool:
        identity = caller_identity(request)
        if identity is None:
            return True
        tenant = request_tenant(request)
        rate = api_rate(tenant.slug if tenant is not None else None)
        if rate is None:
            return True
        self.verdict = ratelimit.hit(SCOPE, identity, rate)
        return self.verdict.allowed

    def wait(self) -> float | None:
        return self.verdict.retry_after if self.verdict is not None else None
