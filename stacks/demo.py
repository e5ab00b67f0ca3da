"""The demo tenant: what ``manage.py seed_demo`` loads. Idempotent: a second run adds only
what is missing and never changes a password someone has set."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model

from agents.models import Agent, KnowledgeEntry
from approvals.models import ExchangeRate
from core import services
from core.models import (
    ApiKey,
    ApproverGroup,
    BusinessHours,
    Tenant,
)
from handover.groups import ai_agent_taken
from handover.models import PeopleGroup
from stacks.documents import new_id
from stacks.selectors import builtin_template
from stacks.services import stack_import

DEMO_SLUG = "demo"
DEMO_PEOPLE = [
    # username, password, roles, full name
    ("manager", "demo-manager", ["manager"], "Maria Manager"),
    ("agent1", "demo-agent1", ["agent"], "Ada Agent"),
    ("agent2", "demo-agent2", ["agent"], "Alan Agent"),
    ("approver", "demo-approver", ["approver"], "Priya Approver"),
]


def seed_demo() -> list[str]:
    report: list[str] = []
    tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
    if tenant is None:
        tenant = services.tenant_create(
            slug=DEMO_SLUG, name="Demo Outfitters", time_zone="Europe/London"
        )
        for weekday in range(5):
            BusinessHours.objects.create(
                tenant=tenant, weekday=weekday, opens=dt.time(8), closes=dt.time(20)
            )
        BusinessHours.objects.create(
            tenant=tenant, weekday=5, opens=dt.time(10), closes=dt.time(16)
        )
        report.append(f"Created tenant {tenant.slug} ({tenant.name}).")
    else:
        report.append(f"Tenant {tenant.slug} already there.")

    user_model = get_user_model()
    for username, password, roles, full_name in DEMO_PEOPLE:
        if user_model.objects.filter(username=username).exists():
            continue
        first, last = full_name.split(" ", 1)
        services.user_create(
            username=username,
            tenant=tenant,
            roles=roles,
            password=password,
            email=f"{username}@demo.example",
            first_name=first,
            last_name=last,
        )

    report.extend(seed_demo_team(tenant))
    report.extend(seed_demo_groups(tenant))
    report.extend(seed_demo_walkthrough(tenant))
    report.extend(seed_demo_rates(tenant))

    if not ApiKey.objects.filter(tenant=tenant, name="demo").exists():
        _, raw = services.api_key_create(tenant=tenant, name="demo")
        report.append(f"Demo API key (shown once): {raw}")

    report.append("Demo logins (username / password):")
    report.extend(
        f"  {username:<9} / {password:<14} {', '.join(roles)}"
        for username, password, roles, _ in DEMO_PEOPLE
    )
    return report


def demo_guide(site: str) -> list[str]:
    """Where the demo's pages are and the "Try it" walkthrough (README's first screen; `./run
    up` prints it), for the site at ``site`` (``http://127.0.0.1:8000``)."""
    site = site.rstrip("/")
    return [
        "",
        f"The back office is at {site}/",
        f"  chat (customers):  {site}/chat/{DEMO_SLUG}/   (on a sample website: "
        f"{site}/chat/{DEMO_SLUG}/preview/)",
        f"  inbox (agents):    {site}/inbox/       agent1 / demo-agent1, agent2 / demo-agent2",
        f"  approvals:         {site}/approvals/   approver / demo-approver",
        f"  admin (managers):  {site}/admin/       manager / demo-manager",
        f"  API docs:          {site}/api/docs/",
        "",
        "Try it (each person in their own browser window; a private window for the customer):",
        f"  1. Sign in at {site}/inbox/ as agent1 and keep it open.",
        f'  2. Open {site}/chat/{DEMO_SLUG}/ and write "I\'d like to talk to a person".',
        "  3. In the inbox, claim the offer, answer, then choose Hand back to AI.",
        '  4. In the chat, write "I want a refund for my whole order": 240 EUR is above the',
        "     100 EUR the rules let the AI refund alone, so it waits for an approver.",
        f"  5. Sign in at {site}/approvals/ as approver and approve it: the refund is",
        "     made and the chat tells the customer.",
        "  (Outside the demo's business hours, Mon-Fri 8-20 and Sat 10-16 London time, the",
        "  request for a person waits in the inbox's queue instead of ringing: claim it there.)",
        "",
    ]


# The walkthrough's refund (README, "Try it"): the front desk's rules want approval when a
# refund and the last 24 hours' refunds pass 100 EUR, and the stack's billing agent only ever
# refunds a 49 EUR double charge. This entry gives the demo billing agent a refund above it.
WALKTHROUGH_REFUND = {
    "question": "I want a refund for my whole order",
    "keywords": ["refund my order", "refund for my order", "whole order", "full refund"],
    "answer": "I've asked for a full refund of your order (240 EUR). Refunds of this size "
    "are approved by a colleague; you'll hear from us as soon as it's decided.",
    "action": "issue_refund",
    "action_params": {"orderId": "ORDER-1002", "amount": 240.0, "currency": "EUR"},
}


def seed_demo_walkthrough(tenant: Tenant) -> list[str]:
    """The refund above the approval threshold that the walkthrough asks for, on the demo
    billing agent (added once; left out when that agent is gone)."""
    billing = Agent.objects.filter(tenant=tenant, slug="agent-billing").first()
    if (
        billing is None
        or billing.knowledge.filter(question=WALKTHROUGH_REFUND["question"]).exists()
    ):
        return []
    last = billing.knowledge.order_by("-position").first()
    KnowledgeEntry.objects.create(
        agent=billing, position=(last.position + 1) if last else 0, **WALKTHROUGH_REFUND
    )
    return ["Billing refunds a whole order (240 EUR, above the approval threshold)."]


DEMO_RATES = [
    # currency, what one unit is worth in the demo tenant's currency (EUR): example rates
    ("USD", "0.92"),
    ("GBP", "1.17"),
]


def seed_demo_rates(tenant: Tenant) -> list[str]:
    """The demo tenant's exchange rates (its customers ask for refunds in dollars and pounds
    too); a rate already there, perhaps changed by a manager, is left as it is."""
    from decimal import Decimal

    added = []
    for currency, rate in DEMO_RATES:
        _, created = ExchangeRate.objects.get_or_create(
            tenant=tenant, currency=currency, defaults={"rate": Decimal(rate)}
        )
        if created:
            added.append(f"1 {currency} = {rate} {tenant.currency}")
    return [f"Exchange rates: {', '.join(added)}."] if added else []


DEMO_STACKS = [
    # built-in template, prefix of its ids in the demo tenant
    ("customer-support", ""),
    ("ecommerce-refunds", "shop"),
]


def seed_demo_team(tenant: Tenant) -> list[str]:
    """The demo's AI teams, from the built-in stack templates: the customer-support stack (a
    supervisor and four specialists with knowledge, the seeds' rules and workflows) and the
    e-commerce refunds stack (ids prefixed ``shop-``). Each is added only when its supervisor
    is missing."""

    finance, _ = ApproverGroup.objects.get_or_create(tenant=tenant, name="finance")
    finance.members.add(*get_user_model().objects.filter(username="approver"))
    report = []
    for stem, prefix in DEMO_STACKS:
        template = builtin_template(stem)
        root = next(a["id"] for a in template.document["agents"] if not a.get("supervisorId"))
        if Agent.objects.filter(tenant=tenant, slug=new_id(prefix, root)).exists():
            continue
        plan = stack_import(tenant=tenant, document=template.document, prefix=prefix)
        report.append(
            f"Created the {template.name} stack: "
            f"{', '.join(a['id'] for a in plan['agents'])}, with rules and "
            f"{len(plan['workflows'])} workflow(s)."
        )
    return report


def seed_demo_groups(tenant: Tenant) -> list[str]:
    """A group of human agents (``handover.groups``): Billing, Alan (agent2), takes the billing
    agent's handoffs first, and everyone's at once when he is not available (its overflow is
    0, so the walkthrough's agent1 still gets them alone). Added once; left out when the
    billing agent is gone or another group takes it."""
    if PeopleGroup.objects.filter(tenant=tenant, name="Billing").exists():
        return []
    billing = Agent.objects.filter(tenant=tenant, slug="agent-billing").first()
    if billing is None or ai_agent_taken([billing.pk]) is not None:
        return []
    group = PeopleGroup.objects.create(tenant=tenant, name="Billing", overflow_after=0)
    group.members.set(get_user_model().objects.filter(username="agent2"))
    group.ai_agents.set([billing])
    return [
        "Created the group Billing: agent2 is asked first for the billing agent's handoffs "
        "(everyone, when agent2 is not available)."
    ]
