"""Imports racing on PostgreSQL: with the same prefix exactly one wins and the others are
refused with their errors (never an IntegrityError); with different prefixes all succeed."""

from __future__ import annotations

import pytest
from django.db import connection

from agents.models import Agent, Workflow
from stacks.documents import StackInvalid
from stacks.services import stack_import
from tests.concurrency import race
from tests.conftest import need_service
from tests.stacks.conftest import finance_group, refunds_document

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def finance(tenant):
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (row locks decide the races)")
    return finance_group(tenant, "acme-finance")


def test_the_same_prefix_racing_gives_one_stack(tenant, finance):
    results = race(
        4, lambda i: stack_import(tenant=tenant, document=refunds_document(), prefix="eu")
    )

    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, StackInvalid)]
    assert len(created) == 1, results
    assert len(refused) == 3, results
    assert all("already exists" in r.errors["template.agents[0].id"][0] for r in refused)
    assert Agent.objects.filter(tenant=tenant).count() == 4
    assert Workflow.objects.filter(tenant=tenant).count() == 1


def test_different_prefixes_racing_all_succeed(tenant, finance):
    results = race(
        4, lambda i: stack_import(tenant=tenant, document=refunds_document(), prefix=f"p{i}")
    )

    assert all(isinstance(r, dict) for r in results), results
    assert Agent.objects.filter(tenant=tenant).count() == 16
