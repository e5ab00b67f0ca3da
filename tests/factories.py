"""Factories for the tests. Rows are made through the same services the product uses where a
service exists (people, keys, agents and their rules, messages), so a factory never makes a
state the product could not. ``make_team`` is what the one ``team`` fixture (tests/conftest.py)
builds; a test module or folder that needs another team overrides ``team_options``."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import factory
from django.contrib.auth import get_user_model

from agents.models import Agent
from agents.rule_sets import rules_replace
from agents.services import agent_create
from conversations.messages import message_post
from core import services
from core.models import ApproverGroup, BusinessHours, Tenant

PASSWORD = "correct-horse-battery"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    time_zone = "UTC"


def make_person(*, tenant: Tenant | None, roles=(), username: str | None = None, **extra):
    """A person in ``tenant`` with ``roles`` and the password ``PASSWORD``."""
    username = username or f"person{get_user_model().objects.count() + 1}"
    if tenant is None:
        user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
        return user
    user, _ = services.user_create(
        username=username, tenant=tenant, roles=roles, password=PASSWORD, **extra
    )
    return user


def make_api_key(*, tenant: Tenant, name: str = "integration", created_by=None):
    """Returns ``(api_key, raw_key)``."""
    return services.api_key_create(tenant=tenant, name=name, created_by=created_by)


# --- the AI team ------------------------------------------------------------------------------

# The specialists a team may have, by short name: (slug, name, domains, knowledge).
SPECIALISTS: dict[str, tuple[str, str, list[str], list[dict[str, Any]]]] = {
    "billing": (
        "agent-billing",
        "Billing",
        ["billing", "refund"],
        [
            {
                "question": "Why was I charged twice?",
                "keywords": ["charged twice", "double charge"],
                "answer": "I can refund the duplicate payment.",
                "action": {"name": "issue_refund", "params": {"orderId": "A1", "amount": 20}},
            },
            {
                "question": "Where is my invoice?",
                "keywords": ["invoice"],
                "answer": "Under Account > Billing.",
            },
        ],
    ),
    "tech": (
        "agent-tech",
        "Tech",
        ["technical"],
        [
            {
                "question": "The app crashes",
                "keywords": ["crash", "crashes", "crashing"],
                "answer": "Update the app.",
            }
        ],
    ),
    "retention": ("agent-retention", "Retention", [], []),
}

# The supervisor's rules that send a request for a human to people.
ESCALATE_TO_PEOPLE: dict[str, Any] = {
    "escalation": {"intents": ["human_agent"], "escalateToHuman": True}
}

# The team the handover tests (and the socket tests of other folders) talk to: a front desk
# whose rules send a request for a human to people, a billing specialist without knowledge,
# and business hours all week.
TO_PEOPLE: dict[str, Any] = {
    "specialists": ("billing",),
    "knowledge": False,
    "rules": ESCALATE_TO_PEOPLE,
    "open_all_week": True,
}


@dataclass
class Team:
    """A supervisor and its specialists. Unpacks and indexes as ``sup, *specialists`` in the
    order asked for (``sup, billing, tech = team``, ``team[0]``); ``team.by_name["tech"]``."""

    sup: Agent
    specialists: list[Agent]
    by_name: dict[str, Agent]

    def __iter__(self) -> Iterator[Agent]:
        return iter([self.sup, *self.specialists])

    def __getitem__(self, index: int) -> Agent:
        return [self.sup, *self.specialists][index]

    def __len__(self) -> int:
        return 1 + len(self.specialists)


def tenant_admin_form(tenant: Tenant, **fields: str) -> dict[str, str]:
    """The tenant's admin page posted as it stands (no business hours or holidays added), with
    ``fields`` changed."""
    return {
        "name": tenant.name,
        "time_zone": tenant.time_zone,
        "approval_timeout": "1 00:00:00",
        "currency": tenant.currency,
        "chat_color": tenant.chat_color,
        "chat_reply_time": tenant.chat_reply_time,
        "chat_ask_email": tenant.chat_ask_email,
        "business_hours-TOTAL_FORMS": "0",
        "business_hours-INITIAL_FORMS": "0",
        "holidays-TOTAL_FORMS": "0",
        "holidays-INITIAL_FORMS": "0",
        **fields,
    }


def make_open_all_week(tenant: Tenant) -> None:
    """Business hours around the clock, every day (a closed desk changes where a handoff
    goes)."""
    for weekday in range(7):
        BusinessHours.objects.get_or_create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )


def make_team(
    tenant: Tenant,
    *,
    sup_name: str = "Front desk",
    specialists: Sequence[str] = ("billing", "tech"),
    knowledge: bool = True,
    rules: Mapping[str, Any] | None = None,
    approvers: Sequence[str] = (),
    approver_groups: Mapping[str, Sequence[str]] | None = None,
    open_all_week: bool = False,
) -> Team:
    """The AI team of ``tenant``, made through the product's services: a supervisor
    ``agent-sup`` and the ``specialists`` (names of ``SPECIALISTS``) reporting to it, with their
    knowledge unless ``knowledge`` is False; the supervisor's ``rules`` document (as the rules
    API takes it); people with the approver role named ``approvers``; approver groups
    (``{"finance": ["fin1"]}``, members made as approvers); business hours all week."""
    if open_all_week:
        make_open_all_week(tenant)
    for username in approvers:
        make_person(tenant=tenant, roles=["approver"], username=username)
    for group_name, members in (approver_groups or {}).items():
        group = ApproverGroup.objects.create(tenant=tenant, name=group_name)
        for username in members:
            group.members.add(make_person(tenant=tenant, roles=["approver"], username=username))
    sup = agent_create(tenant=tenant, slug="agent-sup", name=sup_name, role="supervisor")
    by_name = {}
    for short in specialists:
        slug, name, domains, entries = SPECIALISTS[short]
        by_name[short] = agent_create(
            tenant=tenant,
            slug=slug,
            name=name,
            role="specialist",
            supervisor=sup,
            domains=list(domains),
            knowledge=copy.deepcopy(entries) if knowledge else None,
        )
    if rules is not None:
        rules_replace(agent=sup, document=copy.deepcopy(dict(rules)))
    return Team(sup=sup, specialists=list(by_name.values()), by_name=by_name)


# --- messages ---------------------------------------------------------------------------------


def make_message(conversation, *, text: str, role: str = "customer", author: str = "", **signals):
    """A message of ``conversation``, written the product's one way (``message_post``: it is
    announced after commit); ``signals`` are ``intent``, ``sentiment``, ``risk``."""
    return message_post(conversation=conversation, role=role, text=text, author=author, **signals)
