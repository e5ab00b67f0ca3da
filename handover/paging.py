"""The page number of a list page (``?page=``): from 1 to ``MAX_PAGE``; anything else is the
first page (a page past the last one is simply empty)."""

from __future__ import annotations

from django.http import HttpRequest

MAX_PAGE = 400


def page_number(request: HttpRequest) -> int:
    try:
        page = int(request.GET.get("page") or 1)
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)
