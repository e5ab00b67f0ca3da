"""The stack template gallery in Chromium against a real ASGI server (issue 10): a manager opens
the gallery, uses the e-commerce refunds template with a prefix, sees the preview, creates the
stack and finds its agents."""

from __future__ import annotations

import pytest
from django.urls import reverse

from agents.models import Agent, Workflow
from tests.browser.conftest import screenshot, sign_in
from tests.factories import TenantFactory, make_person
from tests.stacks.conftest import finance_group

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


def test_a_manager_previews_then_instantiates_a_template(transactional_db, pages):
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    finance_group(tenant, "acme-finance")
    manager = make_person(tenant=tenant, roles=["manager"], username="maria")
    page = pages()

    sign_in(page, manager, path=reverse("admin:stacks_stacktemplate_changelist"))
    card = page.locator(".stack-card[data-template='builtin-ecommerce-refunds']")
    expect(card).to_contain_text("E-commerce refunds")
    card.get_by_role("link", name="Use this template").click()

    page.fill("input[name='prefix']", "shop")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#stack-plan")).to_contain_text("What will be created")
    expect(page.locator("#stack-plan .plan-agent")).to_have_text(
        ["shop-refunds-desk", "shop-refunds-agent", "shop-orders-agent", "shop-payments-agent"]
    )
    expect(page.locator("#stack-plan .plan-workflow")).to_have_text(["shop: Refund review"])
    screenshot(page, "stacks-preview")
    assert not Agent.objects.filter(tenant=tenant).exists()  # a preview creates nothing

    page.get_by_role("button", name="Create the stack").click()
    expect(page.locator(".messagelist")).to_contain_text("Created the stack shop-refunds-desk")
    expect(page.locator("#result_list")).to_contain_text("shop-refunds-agent")
    assert Agent.objects.filter(tenant=tenant, slug__startswith="shop-").count() == 4
    assert Workflow.objects.filter(tenant=tenant, name="shop: Refund review").exists()
