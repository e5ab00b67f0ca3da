"""manage.py create_tenant, create_user and seed_demo, as SPEC section 10 says."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from core.models import (
    ApiKey,
    Membership,
    Tenant,
)
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_create_tenant_prints_a_working_key_as_the_last_line():
    lines = run("create_tenant", "initech", "--name", "Initech")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {lines[-1]}")
    body = client.get("/api/v1/me").json()
    assert body["tenant"] == {"slug": "initech", "name": "Initech", "timeZone": "UTC"}
    assert ApiKey.objects.get().tenant.slug == "initech"


def test_create_tenant_refuses_a_taken_slug_or_a_bad_time_zone():
    TenantFactory(slug="initech")

    with pytest.raises(CommandError, match="slug: Tenant with this Slug already exists"):
        run("create_tenant", "initech")
    with pytest.raises(CommandError, match="not a known time zone"):
        run("create_tenant", "umbrella", "--time-zone", "Nowhere/Land")
    assert Tenant.objects.count() == 1


def test_create_tenant_takes_the_tenants_currency():
    lines = run("create_tenant", "initech", "--currency", "usd")

    assert "currency USD" in lines[0]
    assert Tenant.objects.get().currency == "USD"
    with pytest.raises(CommandError, match="'BTC' is not an ISO 4217 currency code"):
        run("create_tenant", "umbrella", "--currency", "BTC")
    assert Tenant.objects.count() == 1


def test_create_user_with_several_roles(tenant):
    lines = run(
        "create_user",
        "ada",
        "--tenant",
        "acme",
        "--role",
        "agent",
        "--role",
        "approver",
        "--password",
        "s3cret-pass",
    )

    membership = Membership.objects.get(user__username="ada")
    assert membership.tenant == tenant
    assert membership.roles == ["agent", "approver"]
    assert membership.user.check_password("s3cret-pass")
    assert "Password" not in "\n".join(lines)


def test_create_user_without_a_password_prints_a_generated_one(tenant):
    lines = run("create_user", "mo", "--tenant", "acme", "--role", "manager")

    generated = lines[-1].split(": ", 1)[1]
    user = get_user_model().objects.get(username="mo")
    assert user.check_password(generated)
    assert user.is_staff  # managers use the admin


def test_create_user_refuses_an_unknown_tenant_or_a_taken_username(tenant):
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run("create_user", "ada", "--tenant", "nope", "--role", "agent")
    run("create_user", "ada", "--tenant", "acme", "--role", "agent")
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "ada", "--tenant", "acme", "--role", "agent")


def test_create_user_refuses_an_unknown_role(tenant):
    with pytest.raises(CommandError):
        run("create_user", "ada", "--tenant", "acme", "--role", "wizard")
    assert not get_user_model().objects.filter(username="ada").exists()


def test_seed_demo_makes_the_demo_tenant_and_is_safe_to_run_twice():
    first = run("seed_demo")
    second = run("seed_demo")

    tenant = Tenant.objects.get(slug="demo")
    roles = {m.user.username: m.roles for m in Membership.objects.filter(tenant=tenant)}
    assert roles == {
        "manager": ["manager"],
        "agent1": ["agent"],
        "agent2": ["agent"],
        "approver": ["approver"],
    }
    assert tenant.business_hours.count() == 6
    assert ApiKey.objects.filter(tenant=tenant).count() == 1
    assert any(line.startswith("Demo API key") for line in first)
    assert not any(line.startswith("Demo API key") for line in second)
    assert get_user_model().objects.get(username="manager").check_password("demo-manager")
    # a group of human agents: agent2 is asked first for the billing agent's handoffs
    from handover.models import PeopleGroup

    billing = PeopleGroup.objects.get(tenant=tenant)
    assert (billing.name, billing.overflow_after) == ("Billing", 0)
    assert [u.username for u in billing.members.all()] == ["agent2"]
    assert [a.slug for a in billing.ai_agents.all()] == ["agent-billing"]
    assert sum("Created the group Billing" in line for line in first + second) == 1


def test_the_demo_has_an_ai_team_with_the_seeds_rules_that_route_as_expected():
    from agents.models import Agent, Workflow
    from agents.rule_engine import rules_for, trace

    run("seed_demo")
    run("seed_demo")

    tenant = Tenant.objects.get(slug="demo")
    agents = {a.slug: a for a in Agent.objects.filter(tenant=tenant)}
    assert set(agents) == {
        "agent-supervisor",
        "agent-billing",
        "agent-tech",
        "agent-returns",
        "agent-retention",
        # the e-commerce refunds stack, from its built-in template with the prefix shop
        "shop-refunds-desk",
        "shop-refunds-agent",
        "shop-orders-agent",
        "shop-payments-agent",
    }
    assert set(Workflow.objects.filter(tenant=tenant).values_list("name", flat=True)) == {
        "Support Escalation",
        "Technical triage",
        "shop: Refund review",
    }
    rules = rules_for(agents["agent-billing"])  # inherited from the supervisor
    assert rules.owner == "agent-supervisor"
    routed = trace(rules, {"intent": "technical", "risk": [], "attempts": 0})
    assert routed.handoff.target == "agent-tech"
    refund = trace(
        rules, {"intent": "refund"}, action="issue_refund", params={"orderId": "A", "amount": 150}
    )
    assert refund.approval_needed is True
