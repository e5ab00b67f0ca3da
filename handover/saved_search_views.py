"""The history's saved searches (``handover.saved_searches``): saving the search on screen under
a name, and removing one. Both come back to the history's page."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.views.decorators.http import require_POST

from conversations.search import BadFilter, filters_from, filters_query
from core.errors import Invalid, NotFound
from core.permissions import MANAGER, page_door, person_hats
from core.scoping import membership_of
from handover.saved_searches import (
    NAME_MAX,
    QUERY_MAX,
    saved_search_create,
    saved_search_remove,
)
from handover.views import history_page


def _history(query: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("inbox-history") + (f"?{query}" if query else ""))


@page_door
@require_POST
def inbox_history_search_save(request: HttpRequest) -> HttpResponse:
    """Save the search on screen (``query``, the history's query string) as ``name``;
    ``shared`` (a manager's) shows it to the whole team. A refusal is the history's page with
    the search and why (400), nothing saved."""
    tenant = membership_of(request.user).tenant
    query = request.POST.get("query", "")
    try:
        search = saved_search_create(
            tenant_id=tenant.pk,
            user=request.user,
            name=request.POST.get("name"),
            query=query,
            shared=request.POST.get("shared") == "on",
            manager=MANAGER in person_hats(request.user),
        )
    except Invalid as exc:
        name = request.POST.get("name", "")
        return history_page(
            request, QueryDict(query[:QUERY_MAX]), save_problem=exc, save_name=name[:NAME_MAX]
        )
    messages.success(
        request,
        f"Saved “{search.name}”" + (", for the whole team." if search.shared else "."),
    )
    return _history(search.query)


@page_door
@require_POST
def inbox_history_search_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove a saved search: the person's own, or (a manager) one shared with the team."""
    tenant = membership_of(request.user).tenant
    try:
        name = saved_search_remove(
            tenant_id=tenant.pk,
            user=request.user,
            search_id=pk,
            manager=MANAGER in person_hats(request.user),
        )
    except NotFound:
        raise Http404("No such saved search.") from None
    messages.success(request, f"Removed “{name}”.")
    try:  # back to the search on screen, as the history reads it
        back = filters_query(filters_from(QueryDict(request.POST.get("back", "")[:QUERY_MAX])))
    except BadFilter:
        back = ""
    return _history(back)
