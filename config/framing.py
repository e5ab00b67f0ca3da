"""The customer's chat shown in a frame on the tenant's website: the chat page's
``frame-ancestors`` (``policy_framed_by``), and CSRF protection that a framed page, which gets
no cookies of ours, can pass (``same_origin_or_csrf``). Every other page keeps the policy of
``config.security`` (no frames at all)."""

from __future__ import annotations

import re
from functools import wraps

from django.conf import settings
from django.views.decorators.csrf import csrf_exempt, csrf_protect

FRAME_ANCESTORS = re.compile(r"(^|;)\s*frame-ancestors[^;]*")


def policy_framed_by(origins: list[str]) -> str:
    """``settings.CONTENT_SECURITY_POLICY`` with its ``frame-ancestors`` naming our own pages and
    ``origins`` (a tenant's websites that show its chat), instead of nobody."""
    directive = " ".join(["frame-ancestors", "'self'", *origins])
    policy = settings.CONTENT_SECURITY_POLICY or ""
    if FRAME_ANCESTORS.search(policy):
        return FRAME_ANCESTORS.sub(lambda m: f"{m.group(1)} {directive}", policy, count=1).strip()
    return f"{policy}; {directive}" if policy else directive


def own_origin(request) -> bool:
    """Whether the request says it comes from a page of this server: its ``Origin`` header is
    this server's scheme and host, or one of ``CSRF_TRUSTED_ORIGINS`` (the server's own address
    behind a proxy). Browsers set ``Origin`` on every POST and no page can forge it; a request
    without one is not ours by this test."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return origin == f"{request.scheme}://{request.get_host()}" or origin in set(
        settings.CSRF_TRUSTED_ORIGINS
    )


def same_origin_or_csrf(view):
    """CSRF protection for the customer's chat, which may be shown in a frame on the tenant's
    website: there the browser withholds our cookies, the CSRF cookie too (a third-party
    frame), so a POST from our own page is told by its ``Origin`` instead (no other site can
    send ours); any other request goes through Django's token check as before."""
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def checked(request, *args, **kwargs):
        if own_origin(request):
            return view(request, *args, **kwargs)
        return protected(request, *args, **kwargs)

    return checked
