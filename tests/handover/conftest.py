from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from agents.models import Agent
from agents.rule_sets import rules_replace
from core.models import BusinessHours
from handover.presence import presence_join
from tests.factories import make_person


@pytest.fixture
def open_all_week(tenant):
    for weekday in range(7):
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    return tenant


@pytest.fixture
def team(tenant, open_all_week):
    sup = Agent.objects.create(
        tenant=tenant, slug="agent-sup", name="Front desk", role="supervisor"
    )
    billing = Agent.objects.create(
        tenant=tenant,
        slug="agent-billing",
        name="Billing",
        role="specialist",
        supervisor=sup,
        domains=["billing", "refund"],
    )
    make_person(tenant=tenant, roles=["approver"], username="priya")
    rules_replace(
        agent=sup,
        document={
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya"],
            },
        },
    )
    return sup, billing


@pytest.fixture
def ada(tenant):
    return make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")


@pytest.fixture
def bob(tenant):
    return make_person(tenant=tenant, roles=["agent"], username="bob")


@pytest.fixture
def online(ada, bob, tenant):
    presence_join(user=ada, tenant=tenant)
    presence_join(user=bob, tenant=tenant)
    return ada, bob


def recently(**kwargs):
    return timezone.now() - dt.timedelta(**kwargs)


def _make_team_sync(tenant):
    """The team of the ``team`` fixture, for async tests: a supervisor whose rules send a
    request for a human to people, a billing specialist, and business hours all week."""
    for weekday in range(7):
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    sup = Agent.objects.create(
        tenant=tenant, slug="agent-sup", name="Front desk", role="supervisor"
    )
    Agent.objects.create(
        tenant=tenant,
        slug="agent-billing",
        name="Billing",
        role="specialist",
        supervisor=sup,
        domains=["billing", "refund"],
    )
    rules_replace(
        agent=sup, document={"escalation": {"intents": ["human_agent"], "escalateToHuman": True}}
    )
    return sup
