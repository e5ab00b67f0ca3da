"""The team's customers (Chatwoot's contacts, Zendesk's customers, Intercom's people): every
customer the person reaches a conversation of, one row each by their customer id, with the
name and e-mail address of their latest conversation, how many conversations they have and how
many are open, whether the website vouched for them (a signed-in visitor) and when they last
wrote or were answered; searched by name, address or id; the latest activity first. A customer's
page lists what is known of them and all their conversations the person reaches.

Built from the conversations alone (a customer is no row of its own): what a person reaches is
what they see, as in the history (a human agent: the conversations handed to people; a
manager: all). Two queries a list's page (two or three a customer's), however many customers
or conversations there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from conversations.attributes import attributes_shown
from conversations.blocks import blocked
from conversations.models import Conversation, State
from conversations.selectors import last_shown
from core.json_input import text_problem
from core.models import Tenant

CUSTOMERS_PAGE = 50
CUSTOMER_CONVERSATIONS_MAX = 100  # a customer's page lists this many, the newest first
SEARCH_MAX = 200
CUSTOMER_ID_MAX = Conversation._meta.get_field("customer_ref").max_length


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    name: str
    email: str
    verified: bool
    conversations: int
    open: int
    last_activity_at: Any


def _latest(found: QuerySet[Conversation], refs: list[str]) -> dict[str, Conversation]:
    """Each customer's latest conversation among ``found`` (one query: a window function)."""
    latest = (
        found.filter(customer_ref__in=refs)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("customer_ref")],
                order_by=[F("last_activity_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank=1)
        .only(
            "customer_ref",
            "customer_name",
            "customer_email",
            "customer_attributes",
            "customer_verified",
            "channel",
        )
    )
    return {row.customer_ref: row for row in latest}


def customers_found(
    tenant: Tenant, reachable: QuerySet[Conversation], q: str = "", page: int = 1
) -> tuple[list[CustomerRow], bool]:
    """A page of the customers of ``reachable`` (the conversations the person reaches), the
    latest activity first, those whose name, e-mail address or id holds ``q``; and whether
    another page follows."""
    found = reachable.filter(tenant=tenant)
    q = q.strip()[:SEARCH_MAX]
    if q:
        matching = found.filter(
            Q(customer_ref__icontains=q)
            | Q(customer_name__icontains=q)
            | Q(customer_email__icontains=q)
        ).values("customer_ref")
        found = found.filter(customer_ref__in=matching)
    start = (page - 1) * CUSTOMERS_PAGE
    groups = list(
        found.order_by()
        .values("customer_ref")
        .annotate(
            conversations=Count("pk"),
            open=Count("pk", filter=~Q(state=State.RESOLVED)),
            last=Max("last_activity_at"),
            verified=Count("pk", filter=Q(customer_verified=True)),
        )
        .order_by("-last", "customer_ref")[start : start + CUSTOMERS_PAGE + 1]
    )
    shown = groups[:CUSTOMERS_PAGE]
    latest = _latest(found, [row["customer_ref"] for row in shown])
    rows = []
    for row in shown:
        last = latest.get(row["customer_ref"])
        rows.append(
            CustomerRow(
                customer_id=row["customer_ref"],
                name=last.customer_name if last else "",
                email=last.customer_email if last else "",
                verified=row["verified"] > 0,
                conversations=row["conversations"],
                open=row["open"],
                last_activity_at=row["last"],
            )
        )
    return rows, len(groups) > CUSTOMERS_PAGE


def customer_profile(
    tenant: Tenant, reachable: QuerySet[Conversation], customer_id: str
) -> dict[str, Any] | None:
    """What is known of the customer ``customer_id`` (their latest conversation's name, e-mail
    address and attributes, whether they are signed in somewhere, whether a block stands) and
    their conversations the person reaches, the newest first: those with this customer id, and
    those from their e-mail address under another id (their mails, when they chatted and left
    the address), as the inbox's "other conversations with this customer" counts them. None when
    the person reaches none with this id (or it is no customer id at all)."""
    if not customer_id or len(customer_id) > CUSTOMER_ID_MAX or text_problem(customer_id):
        return None  # no conversation can have it
    mine = reachable.filter(tenant=tenant, customer_ref=customer_id)
    latest = mine.order_by("-last_activity_at", "-pk").first()
    if latest is None:
        return None
    same = Q(customer_ref=customer_id)
    if latest.customer_email.strip():
        same |= Q(customer_email__iexact=latest.customer_email.strip())
    theirs = list(
        reachable.filter(same, tenant=tenant)
        .select_related("assignee")
        .annotate(last_text=last_shown("text"))
        .order_by("-last_activity_at", "-pk")[: CUSTOMER_CONVERSATIONS_MAX + 1]
    )
    return {
        "customer_id": customer_id,
        "name": latest.customer_name,
        "email": latest.customer_email,
        # a website signed for this id (another id's chat with the same address is not it)
        "verified": any(c.customer_verified for c in theirs if c.customer_ref == customer_id),
        "attributes_raw": latest.customer_attributes or {},
        "attributes": [
            a for a in attributes_shown(latest.customer_attributes) if a["name"] != "page"
        ],
        "blocked": blocked(tenant.pk, customer_ref=customer_id, email=latest.customer_email),
        "conversations": theirs[:CUSTOMER_CONVERSATIONS_MAX],
        "more": len(theirs) > CUSTOMER_CONVERSATIONS_MAX,
    }
