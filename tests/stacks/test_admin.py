"""The admin's stack template gallery: tenant-scoped, preview before create, publish, export,
import."""

from __future__ import annotations

import json

import pytest

from agents.models import Agent
from stacks.models import StackTemplate
from stacks.services import stack_import
from tests.conftest import login
from tests.factories import make_person
from tests.stacks.conftest import finance_group, refunds_document, support_document

pytestmark = pytest.mark.django_db

GALLERY = "/admin/stacks/stacktemplate/"


def use_url(key) -> str:
    return f"{GALLERY}{key}/use/"


def test_the_gallery_shows_builtin_global_and_own_templates_only(
    manager_client, tenant, other_tenant
):
    StackTemplate.objects.create(tenant=None, name="Shared team", document=refunds_document())
    StackTemplate.objects.create(tenant=tenant, name="Acme team", document=refunds_document())
    StackTemplate.objects.create(
        tenant=other_tenant, name="Globex secret team", document=refunds_document()
    )

    page = manager_client.get(GALLERY).content.decode()

    assert "Customer support" in page and "E-commerce refunds" in page
    assert "Shared team" in page and "Acme team" in page
    assert "Globex secret team" not in page


def test_another_tenants_template_is_not_found(manager_client, other_tenant):
    theirs = StackTemplate.objects.create(
        tenant=other_tenant, name="Globex team", document=refunds_document()
    )
    assert manager_client.get(use_url(theirs.pk)).status_code == 404
    assert manager_client.post(use_url(theirs.pk), {"create": "1"}).status_code == 404
    assert manager_client.get(f"{GALLERY}{theirs.pk}/change/").status_code == 404
    assert not Agent.objects.exists()


def test_use_previews_then_creates(manager_client, tenant):
    finance_group(tenant, "acme-finance")

    preview = manager_client.post(
        use_url("builtin-ecommerce-refunds"), {"prefix": "shop", "preview": "1"}
    )
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "What will be created" in page
    assert "shop-refunds-desk" in page and "shop: Refund review" in page
    assert not Agent.objects.filter(tenant=tenant).exists()

    created = manager_client.post(
        use_url("builtin-ecommerce-refunds"), {"prefix": "shop", "create": "1"}
    )
    assert created.status_code == 302
    assert set(Agent.objects.filter(tenant=tenant).values_list("slug", flat=True)) == {
        "shop-refunds-desk",
        "shop-refunds-agent",
        "shop-orders-agent",
        "shop-payments-agent",
    }


def test_the_preview_lists_every_problem_and_creates_nothing(manager_client, tenant):
    # the support template names the approver "approver", which this tenant lacks
    page = manager_client.post(
        use_url("builtin-customer-support"), {"prefix": "eu", "preview": "1"}
    ).content.decode()
    assert "template.agents[0].rules.approvals.approvers" in page
    assert "&#x27;approver&#x27; is not an approver of this tenant" in page
    assert "Create the stack" not in page

    page = manager_client.post(
        use_url("builtin-customer-support"), {"prefix": "Bad Prefix", "preview": "1"}
    ).content.decode()
    assert "prefix: Use lowercase letters" in page
    assert not Agent.objects.filter(tenant=tenant).exists()


def test_approvers_given_in_the_form_replace_the_templates(manager_client, tenant):
    finance_group(tenant, "acme-finance")
    answer = manager_client.post(
        use_url("builtin-customer-support"),
        {"prefix": "", "approvers": "group:finance", "create": "1"},
    )
    assert answer.status_code == 302
    assert Agent.objects.get(tenant=tenant, slug="agent-supervisor").rules.approvers == [
        "group:finance"
    ]


def test_a_manager_publishes_a_stack_for_the_tenant_only(
    manager_client, tenant, other_manager, other_tenant
):
    finance_group(tenant, "acme-finance")
    stack_import(tenant=tenant, document=refunds_document())
    desk = Agent.objects.get(tenant=tenant, slug="refunds-desk")

    answer = manager_client.post(
        f"{GALLERY}add/", {"name": "Acme refunds", "description": "ours", "stack": desk.pk}
    )

    assert answer.status_code == 302, answer.content.decode()[:3000]
    template = StackTemplate.objects.get(name="Acme refunds")
    assert template.tenant == tenant
    assert {a["id"] for a in template.document["agents"]} == {
        "refunds-desk",
        "refunds-agent",
        "orders-agent",
        "payments-agent",
    }
    other_page = login(other_manager).get(GALLERY).content.decode()
    assert "Acme refunds" not in other_page


def test_a_manager_cannot_publish_another_tenants_stack(manager_client, other_tenant):
    theirs = Agent.objects.create(tenant=other_tenant, slug="g-desk", name="G", role="supervisor")
    answer = manager_client.post(f"{GALLERY}add/", {"name": "Stolen", "stack": theirs.pk})
    assert answer.status_code == 200
    assert not StackTemplate.objects.exists()


def test_publishing_a_document_with_a_bad_rule_shows_every_error(manager_client):
    document = refunds_document()
    document["agents"][0]["rules"]["handoffs"][0]["condition"] = "intent = 'refund'"
    document["agents"][1]["rules"]["approvals"]["actions"][1]["action"] = "nuke"
    answer = manager_client.post(
        f"{GALLERY}add/", {"name": "Broken", "document": json.dumps(document)}
    )
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "document.agents[0].rules.handoffs[0].condition" in page
    assert "document.agents[1].rules.approvals.actions[1].action" in page
    assert not StackTemplate.objects.exists()


def test_a_superuser_publishes_a_global_template_every_tenant_sees(
    manager_client, other_manager, tenant
):
    admin = make_person(tenant=None, username="root", is_superuser=True, is_staff=True)
    answer = login(admin).post(
        f"{GALLERY}add/",
        {"name": "For everyone", "tenant": "", "document": json.dumps(refunds_document())},
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert StackTemplate.objects.get(name="For everyone").tenant is None
    assert "For everyone" in manager_client.get(GALLERY).content.decode()
    assert "For everyone" in login(other_manager).get(GALLERY).content.decode()
    # read-only for managers
    template = StackTemplate.objects.get(name="For everyone")
    edit = manager_client.post(
        f"{GALLERY}{template.pk}/change/", {"name": "Hijacked", "document": "{}"}
    )
    assert edit.status_code in (403, 200)
    template.refresh_from_db()
    assert template.name == "For everyone"


def test_export_downloads_the_stack_and_import_takes_it_back(manager_client, tenant):
    finance_group(tenant, "acme-finance")
    stack_import(tenant=tenant, document=refunds_document())
    desk = Agent.objects.get(tenant=tenant, slug="refunds-desk")

    download = manager_client.post(f"{GALLERY}export/", {"stack": desk.pk})
    assert download["Content-Disposition"] == 'attachment; filename="refunds-desk-stack.json"'
    document = json.loads(download.content)

    created = manager_client.post(
        f"{GALLERY}import/", {"template": json.dumps(document), "prefix": "b", "create": "1"}
    )
    assert created.status_code == 302
    assert Agent.objects.filter(tenant=tenant, slug="b-refunds-desk").exists()


def test_import_shows_every_error_of_a_bad_document(manager_client, tenant):
    make_person(tenant=tenant, roles=["approver"], username="approver")
    finance_group(tenant, "acme-finance")
    document = support_document()
    document["agents"][0]["rules"]["handoffs"][3]["condition"] = "risk contains"
    document["workflows"][0]["steps"][0]["agent"] = "agent-nowhere"
    page = manager_client.post(
        f"{GALLERY}import/", {"template": json.dumps(document), "preview": "1"}
    ).content.decode()
    assert "template.agents[0].rules.handoffs[3].condition" in page
    assert "template.workflows[0].steps[0].agent" in page
    assert not Agent.objects.filter(tenant=tenant).exists()


def test_people_without_the_manager_role_do_not_get_the_gallery(tenant):
    agent = make_person(tenant=tenant, roles=["agent"], username="ada")
    agent.is_staff = True
    agent.save()
    assert login(agent).get(GALLERY).status_code in (302, 403, 404)
    assert login(agent).get(use_url("builtin-customer-support")).status_code in (302, 403, 404)


def test_the_gallery_does_not_grow_in_queries_with_templates(
    manager_client, tenant, django_assert_max_num_queries
):
    StackTemplate.objects.create(tenant=tenant, name="One", document=refunds_document())
    manager_client.get(GALLERY)
    with django_assert_max_num_queries(12) as few:
        manager_client.get(GALLERY)
    for index in range(10):
        StackTemplate.objects.create(tenant=tenant, name=f"T{index}", document=refunds_document())
        StackTemplate.objects.create(tenant=None, name=f"G{index}", document=refunds_document())
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = manager_client.get(GALLERY)
    assert page.content.decode().count('class="stack-card"') == 2 + 21


def test_a_superuser_chooses_the_tenant_to_create_the_stack_in(tenant, other_tenant):
    finance_group(other_tenant, "globex-finance")
    admin = make_person(tenant=None, username="root", is_superuser=True, is_staff=True)

    answer = login(admin).post(
        use_url("builtin-ecommerce-refunds"),
        {"tenant": other_tenant.pk, "prefix": "g", "create": "1"},
    )

    assert answer.status_code == 302
    assert Agent.objects.filter(tenant=other_tenant, slug="g-refunds-desk").exists()
    assert not Agent.objects.filter(tenant=tenant).exists()
