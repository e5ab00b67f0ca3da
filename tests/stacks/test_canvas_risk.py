"""The risk detector's settings in the canvas slide-out and the stack settings admin (issue
20 point 4): each category's threshold, added phrases and switched-off rules with where they
come from; a stack sets them per category and clears them back to the inherited value."""

from __future__ import annotations

import pytest

from agents.models import Agent, SettingsLevel
from agents.orchestrator_settings import settings_overview, settings_update
from stacks.services import stack_import
from tests.stacks.conftest import support_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack(tenant, approvers):
    stack_import(tenant=tenant, document=support_document())
    return Agent.objects.get(tenant=tenant, slug="agent-supervisor")


def _url(root, suffix=""):
    return f"/admin/stacks/stacktemplate/canvas/{root.pk}/{suffix}"


def _category(page: str, category: str) -> str:
    start = page.index(f'id="risk-{category}"')
    return page[start : page.index("</div>", start)]


def test_the_slide_out_sets_a_category_and_clears_it_back(manager_client, tenant, stack):
    settings_update(
        level=SettingsLevel.TENANT,
        tenant=tenant,
        changes={"riskDetection": {"legal_threat": {"add": ["small claims"], "threshold": 0.6}}},
    )

    page = manager_client.get(_url(stack, "?panel=orchestrator")).content.decode()
    legal = _category(page, "legal_threat")
    assert '“small claims” <span class="source source-tenant">tenant</span>' in legal
    assert '0.6 <span class="source source-tenant">tenant</span>' in legal

    saved = manager_client.post(
        _url(stack, "settings/"),
        {
            "setting": "riskDetection",
            "category": "legal_threat",
            "add": "see you in court\nombudsman letter\n",
            "remove": ["sue", "small claims"],
            "threshold": "0.8",
        },
    )

    assert saved.status_code == 302
    overview = settings_overview(tenant=tenant, agent=stack)
    assert overview.levels["stack"]["riskDetection"] == {
        "legal_threat": {
            "add": ["see you in court", "ombudsman letter"],
            "remove": ["sue", "small claims"],
            "threshold": 0.8,
        }
    }
    assert overview.effective["riskDetection"]["legal_threat"] == {
        "add": ["see you in court", "ombudsman letter"],
        "remove": ["sue"],
        "threshold": 0.8,
    }
    page = manager_client.get(saved["Location"]).content.decode()
    legal = _category(page, "legal_threat")
    assert '“see you in court” <span class="source source-stack">stack</span>' in legal
    assert 'sue <span class="source source-stack">stack</span>' in legal
    assert "inherit 0.6 from tenant" in legal
    assert "Clear legal threat: inherit" in legal

    cleared = manager_client.post(
        _url(stack, "settings/"),
        {"setting": "riskDetection", "category": "legal_threat", "clear": "1"},
    )

    assert cleared.status_code == 302
    overview = settings_overview(tenant=tenant, agent=stack)
    assert "riskDetection" not in overview.levels["stack"]
    assert overview.effective["riskDetection"]["legal_threat"] == {
        "add": ["small claims"],
        "remove": [],
        "threshold": 0.6,
    }
    assert overview.sources["riskDetection"] == "tenant"


def test_clearing_one_category_keeps_the_others(manager_client, tenant, stack):
    for category, threshold in (("frustration", "0.9"), ("churn_risk", "0.7")):
        manager_client.post(
            _url(stack, "settings/"),
            {"setting": "riskDetection", "category": category, "threshold": threshold},
        )

    manager_client.post(
        _url(stack, "settings/"),
        {"setting": "riskDetection", "category": "frustration", "clear": "1"},
    )

    own = settings_overview(tenant=tenant, agent=stack).levels["stack"]["riskDetection"]
    assert own == {"churn_risk": {"threshold": 0.7}}
    manager_client.post(_url(stack, "settings/"), {"setting": "riskDetection", "clear_all": "1"})
    assert "riskDetection" not in settings_overview(tenant=tenant, agent=stack).levels["stack"]


@pytest.mark.parametrize(
    ("post", "message"),
    [
        (
            {"category": "legal_threat", "threshold": "1.5"},
            "legal_threat.threshold: 1.5 is outside 0..1.",
        ),
        (
            {"category": "legal_threat", "threshold": "high"},
            "legal_threat.threshold: enter a number",
        ),
        ({"category": "boredom", "add": "yawn"}, "Unknown risk category &#x27;boredom&#x27;."),
    ],
)
def test_a_bad_risk_value_is_refused_in_the_slide_out(manager_client, tenant, stack, post, message):
    response = manager_client.post(_url(stack, "settings/"), {"setting": "riskDetection", **post})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert "riskDetection" not in settings_overview(tenant=tenant, agent=stack).levels["stack"]


def test_the_stack_settings_admin_shows_where_each_part_comes_from(manager_client, tenant, stack):
    settings_update(
        level=SettingsLevel.TENANT,
        tenant=tenant,
        changes={"riskDetection": {"churn_risk": {"add": ["chargeback"]}}},
    )
    row = settings_update(
        level=SettingsLevel.STACK,
        stack=stack,
        changes={"riskDetection": {"churn_risk": {"threshold": 0.7}}},
    )

    page = manager_client.get(
        f"/admin/agents/stackorchestratorsettings/{row.pk}/change/"
    ).content.decode()

    assert "churn_risk: threshold 0.7 (stack), +&quot;chargeback&quot; (tenant)" in page
    assert 'name="risk_detection"' in page
