"""Saved searches of the history (Zendesk's views, Chatwoot's saved filters): a person names the
search on screen (its words and filters) and opens it again in one click from the history's
page. A search is its owner's; a manager may share one with the whole team, and take a shared
one away. Only the filters are kept (``conversations.search.filters_query``), checked as the
history checks them, so a saved search always opens."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import QueryDict

from conversations.search import BadFilter, Filters, filters_from, filters_query
from core.errors import Invalid, NotFound
from core.json_input import text_problem
from handover.models import SavedSearch

NAME_MAX = SavedSearch._meta.get_field("name").max_length
QUERY_MAX = SavedSearch._meta.get_field("query").max_length
PER_PERSON = 50  # a person's own saved searches at most


@dataclass(frozen=True)
class Shown:
    """A saved search as the history's page lists it."""

    id: int
    name: str
    query: str
    shared: bool
    owner: str
    mine: bool
    removable: bool  # by the person looking: their own, or a shared one by a manager


def saved_searches_shown(*, tenant_id: int, user, manager: bool) -> list[Shown]:
    """The person's own searches and those shared with the team, theirs first, by name."""
    rows = (
        SavedSearch.objects.filter(tenant_id=tenant_id)
        .filter(Q(owner=user) | Q(shared=True))
        .select_related("owner")
    )
    shown = [
        Shown(
            id=row.pk,
            name=row.name,
            query=row.query,
            shared=row.shared,
            owner=row.owner.get_username(),
            mine=row.owner_id == user.pk,
            removable=row.owner_id == user.pk or manager,
        )
        for row in rows
    ]
    return sorted(shown, key=lambda s: (not s.mine, s.name.casefold(), s.id))


def _name(value: object) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise Invalid(fields={"name": "Give the search a name."})
    if len(name) > NAME_MAX:
        raise Invalid(fields={"name": f"At most {NAME_MAX} characters."})
    problem = text_problem(name)
    if problem:
        raise Invalid(fields={"name": problem})
    return name


def _filters(query: object) -> Filters:
    if not isinstance(query, str) or len(query) > QUERY_MAX:
        raise Invalid(fields={"query": f"At most {QUERY_MAX} characters."})
    try:
        filters = filters_from(QueryDict(query))
    except BadFilter as exc:
        raise Invalid(fields={f"query.{exc.field}": exc.reason}) from None
    if filters == Filters():
        raise Invalid(fields={"query": "Search for words or pick a filter first."})
    return filters


def saved_search_create(
    *, tenant_id: int, user, name: object, query: object, shared: bool, manager: bool
) -> SavedSearch:
    """Save the search ``query`` (the history's query string) as ``name`` for ``user``;
    ``shared`` with the team only by a manager. Raises Invalid naming ``name``, ``query`` (or
    the filter in it, ``query.state``...) or ``shared``."""
    name = _name(name)
    filters = _filters(query)
    if shared and not manager:
        raise Invalid(fields={"shared": "Only a manager shares a search with the team."})
    if SavedSearch.objects.filter(tenant_id=tenant_id, owner=user).count() >= PER_PERSON:
        raise Invalid(fields={"name": f"You have {PER_PERSON} saved searches: remove one first."})
    try:
        with transaction.atomic():
            return SavedSearch.objects.create(
                tenant_id=tenant_id,
                owner=user,
                name=name,
                query=filters_query(filters),
                shared=shared,
            )
    except IntegrityError:  # the unique name per person, decided by the database
        raise Invalid(fields={"name": f"You already have a search named “{name}”."}) from None


def saved_search_remove(*, tenant_id: int, user, search_id: int, manager: bool) -> str:
    """Remove a saved search: the person's own, or (a manager) one shared with the team.
    Returns its name; NotFound when the person may not see or remove it."""
    removable = Q(owner=user) | Q(shared=True) if manager else Q(owner=user)
    search = SavedSearch.objects.filter(removable, tenant_id=tenant_id, pk=search_id).first()
    if search is None:
        raise NotFound("No such saved search.")
    search.delete()
    return search.name
