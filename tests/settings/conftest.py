from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from agents.models import Agent
from tests.conftest import login
from tests.factories import PASSWORD, make_person


def make_agent(tenant, slug: str, supervisor: Agent | None = None) -> Agent:
    role = "specialist" if supervisor is not None else "supervisor"
    return Agent.objects.create(
        tenant=tenant,
        slug=slug,
        name=slug.replace("-", " ").title(),
        role=role,
        supervisor=supervisor,
    )


@pytest.fixture
def supervisor(tenant) -> Agent:
    return make_agent(tenant, "agent-front")


@pytest.fixture
def specialist(tenant, supervisor) -> Agent:
    return make_agent(tenant, "agent-billing", supervisor)


@pytest.fixture
def other_supervisor(other_tenant) -> Agent:
    return make_agent(other_tenant, "agent-front")


@pytest.fixture
def superuser_client(db):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    return login(root)


@pytest.fixture
def human_agent(tenant):
    return make_person(tenant=tenant, roles=["agent"], username="acme-agent")
