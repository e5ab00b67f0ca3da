"""The inbox's customers pages (``handover.customers``): the list, searched, and a customer's
page. Their doors are the permission table's ``inbox-customers`` and ``inbox-customer``
rows; what a person reaches narrows the conversations both are built from."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from conversations.models import Conversation
from core.json_input import text_problem
from core.permissions import page_door, page_reach
from core.scoping import membership_of
from handover.customers import SEARCH_MAX, customer_profile, customers_found
from handover.paging import page_number
from orchestration.reach import narrow_conversations


@page_door
@require_GET
def inbox_customers(request: HttpRequest) -> HttpResponse:
    """The customers of the conversations the person reaches, the latest activity first, a
    page of ``CUSTOMERS_PAGE``; ``q`` searches their name, e-mail address and id."""
    tenant = membership_of(request.user).tenant
    q = request.GET.get("q", "")
    problem = text_problem(q) if q else None
    if problem or len(q) > SEARCH_MAX:
        problem = problem or f"is longer than {SEARCH_MAX} characters"
        rows, has_next = [], False
    else:
        rows, has_next = customers_found(
            tenant,
            narrow_conversations(Conversation.objects.all(), request.reach),
            q,
            page_number(request),
        )
    return render(
        request,
        "handover/customers.html",
        {
            "tenant": tenant,
            "rows": rows,
            "q": "" if problem else q,
            "problem": problem,
            "page": page_number(request),
            "has_next": has_next,
            "query": urlencode({"q": q}) if q and not problem else "",
            "can_supervise": bool(page_reach(request.user, "inbox-team")),
        },
        status=400 if problem else 200,
    )


@page_door
@require_GET
def inbox_customer(request: HttpRequest) -> HttpResponse:
    """One customer (``?id=`` their customer id): what is known of them and their
    conversations the person reaches; 404 when they reach none."""
    tenant = membership_of(request.user).tenant
    customer_id = request.GET.get("id", "")
    profile = customer_profile(
        tenant, narrow_conversations(Conversation.objects.all(), request.reach), customer_id
    )
    if profile is None:
        raise Http404("No such customer.")
    history = f"{reverse('inbox-history')}?{urlencode({'customer': customer_id})}"
    return render(
        request,
        "handover/customer.html",
        {"tenant": tenant, "customer": profile, "history_url": history},
    )
