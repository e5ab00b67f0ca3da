"""Links that leave the site (e-mails): absolute, on ``SITE_URL``, never relative."""

from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse


def absolute_url(path: str) -> str:
    """``path`` (``/approvals/7/``) on the site people reach: ``SITE_URL`` + path."""
    return f"{settings.SITE_URL.rstrip('/')}/{path.lstrip('/')}"


def absolute_reverse(name: str, *args, fallback: str = "/") -> str:
    """The absolute URL of the named route (``fallback``'s when it is not installed)."""
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        path = fallback
    return absolute_url(path)
