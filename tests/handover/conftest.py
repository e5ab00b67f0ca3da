from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from handover.presence import presence_join
from tests.factories import ESCALATE_TO_PEOPLE, TO_PEOPLE, make_person


@pytest.fixture
def globex(db):
    """A second tenant with its own AI team, for tests that try to cross the line."""
    from tests.factories import TenantFactory, make_team

    other = TenantFactory(slug="globex", name="Globex")
    make_team(other)
    return other


@pytest.fixture
def team_options():
    """The shared ``team`` as the handover tests need it (``TO_PEOPLE``: a front desk that
    sends a request for a human to people, billing, business hours all week), and refunds over
    100 approved by priya."""
    return {
        **TO_PEOPLE,
        "approvers": ["priya"],
        "rules": {
            **ESCALATE_TO_PEOPLE,
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya"],
            },
        },
    }


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


@pytest.fixture
def resolved(tenant, team, ada):
    """A web chat handed to Ada, who claimed and resolved it; with its customer token."""
    from agents.models import Agent
    from conversations.models import Conversation
    from conversations.services import conversation_start
    from handover.models import Handoff
    from handover.services import conversation_resolve, handoff_claim
    from orchestration.turns import conversation_receive_message

    entry = Agent.objects.get(tenant=tenant, slug="agent-sup")
    conversation, token = conversation_start(
        tenant=tenant, agent=entry, channel="web", customer={"id": "kim", "name": "Kim"}
    )
    conversation_receive_message(conversation=conversation, text="I want a human please")
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=ada)
    conversation_resolve(conversation=conversation, user=ada)
    return Conversation.objects.get(pk=conversation.pk), token
