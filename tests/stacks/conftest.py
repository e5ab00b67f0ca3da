from __future__ import annotations

import copy

import pytest

from core.models import ApproverGroup
from stacks.selectors import builtin_template
from tests.factories import make_person


def support_document() -> dict:
    return copy.deepcopy(builtin_template("customer-support").document)


def refunds_document() -> dict:
    return copy.deepcopy(builtin_template("ecommerce-refunds").document)


def finance_group(tenant, username: str):
    group, _ = ApproverGroup.objects.get_or_create(tenant=tenant, name="finance")
    group.members.add(make_person(tenant=tenant, roles=["approver"], username=username))
    return group


@pytest.fixture
def approvers(tenant):
    """The approvers the built-in support template names: the user approver, group:finance."""
    make_person(tenant=tenant, roles=["approver"], username="approver")
    return finance_group(tenant, "acme-finance")
