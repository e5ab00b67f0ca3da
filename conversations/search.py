"""Finding a tenant's conversations (issue 19, point 3): by state, channel, the person who held
them, the customer, a date range, a tag, and words said in them.

Words are searched with PostgreSQL's full-text search on PostgreSQL (``to_tsvector('simple',
text)``, served by the GIN index of migration ``0004_message_text_search``; ``simple`` so every
language's words match as typed), and with a plain case-insensitive ``LIKE`` on SQLite, the
embedded default. Either way one query answers a page, however many rows there are.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from conversations.models import Channel, Conversation, Message, State
from conversations.tags import tag_name
from core.errors import Invalid

SEARCH_CONFIG = "simple"
MAX_QUERY = 200


@dataclass(frozen=True)
class Filters:
    q: str = ""
    state: str = ""
    channel: str = ""
    assignee: str = ""  # a username, or "none"
    customer: str = ""  # the customer's id, name or e-mail (contains)
    since: dt.date | None = None
    until: dt.date | None = None
    tag: str = ""  # a tag's name (conversations.tags)
    group: int | None = None  # handed to this group of human agents (handover.groups)


class BadFilter(ValueError):
    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def filters_from(params) -> Filters:
    """Filters from a query string (a QueryDict or a dict); raises BadFilter naming the field."""

    def text(name: str, limit: int = MAX_QUERY) -> str:
        value = (params.get(name) or "").strip()
        if len(value) > limit or "\x00" in value:
            raise BadFilter(name, f"must be at most {limit} characters")
        return value

    def date(name: str) -> dt.date | None:
        value = text(name, 10)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise BadFilter(name, "must be a date as YYYY-MM-DD") from None

    state, channel, tag = text("state"), text("channel"), text("tag")
    if tag:
        try:
            tag = tag_name(tag)
        except Invalid as exc:
            raise BadFilter("tag", exc.fields["tag"][0]) from None
    if state and state not in State.values:
        raise BadFilter("state", f"must be one of {', '.join(State.values)}")
    if channel and channel not in Channel.values:
        raise BadFilter("channel", f"must be one of {', '.join(Channel.values)}")
    filters = Filters(
        q=text("q"),
        state=state,
        channel=channel,
        assignee=text("assignee", 150),
        customer=text("customer"),
        since=date("since"),
        until=date("until"),
        tag=tag,
    )
    if filters.since and filters.until and filters.since > filters.until:
        raise BadFilter("until", "must not be before since")
    group = text("group", 12)
    if group:
        if not group.isdigit() or not 1 <= int(group) <= 2**53:
            raise BadFilter("group", "must be the id of a group of human agents")
        filters = dataclasses.replace(filters, group=int(group))
    return filters


def filters_query(filters: Filters) -> str:
    """The query string of ``filters`` (only those set, in one order): what ``filters_from``
    reads back as the same filters."""
    values = {field.name: getattr(filters, field.name) for field in dataclasses.fields(Filters)}
    return urlencode(
        {
            name: value.isoformat() if isinstance(value, dt.date) else value
            for name, value in values.items()
            if value not in ("", None)
        }
    )


def _words(tenant_id: int, q: str) -> Q:
    """Conversations with a message that holds the words of ``q``."""
    messages = Message.objects.filter(tenant_id=tenant_id, conversation=OuterRef("pk"))
    if connection.vendor == "postgresql":
        vector = SearchVector("text", config=SEARCH_CONFIG)
        query = SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch")
        messages = messages.annotate(words=vector).filter(words=query)
    else:
        for word in q.split()[:10]:
            messages = messages.filter(text__icontains=word)
    return Q(Exists(messages))


def conversations_found(tenant, filters: Filters, base: QuerySet | None = None) -> QuerySet:
    """The tenant's conversations that match, newest first (``base``: already narrowed to what
    the person reaches)."""
    found = (base if base is not None else Conversation.objects.all()).filter(tenant=tenant)
    if filters.state:
        found = found.filter(state=filters.state)
    if filters.channel:
        found = found.filter(channel=filters.channel)
    if filters.assignee == "none":
        found = found.filter(assignee__isnull=True)
    elif filters.assignee:
        found = found.filter(assignee__username=filters.assignee)
    if filters.customer:
        c = filters.customer
        found = found.filter(
            Q(customer_ref=c) | Q(customer_name__icontains=c) | Q(customer_email__icontains=c)
        )
    if filters.since:
        found = found.filter(created_at__date__gte=filters.since)
    if filters.until:
        found = found.filter(created_at__date__lte=filters.until)
    if filters.tag:
        found = found.filter(tags__name=filters.tag)
    if filters.group:  # handed to that group at least once (a subquery: no row twice)
        handed = Conversation.objects.filter(tenant=tenant, handoffs__group_id=filters.group)
        found = found.filter(pk__in=handed.values("pk"))
    if filters.q:
        found = found.filter(_words(tenant.pk, filters.q))
    return found.order_by("-created_at", "-id")


def customer_conversations(
    conversation: Conversation, *, base: QuerySet | None = None, limit: int = 20
) -> list[Conversation]:
    """The same customer's other conversations with the tenant, newest first (``base``: already
    narrowed to what the person reaches): the same customer id, or the same e-mail address in
    any case (Kim's e-mail and the chat where she left that address)."""
    return list(
        _same_customer(conversation, base)
        .select_related("assignee")
        .order_by("-created_at")[:limit]
    )


def customer_conversations_count(
    conversation: Conversation, *, base: QuerySet | None = None
) -> int:
    """How many ``customer_conversations`` there are, past any limit."""
    return _same_customer(conversation, base).count()


def _same_customer(conversation: Conversation, base: QuerySet | None) -> QuerySet:
    same = Q(customer_ref=conversation.customer_ref)
    if conversation.customer_email.strip():
        same |= Q(customer_email__iexact=conversation.customer_email.strip())
    return (
        (base if base is not None else Conversation.objects.all())
        .filter(same, tenant_id=conversation.tenant_id)
        .exclude(pk=conversation.pk)
    )
