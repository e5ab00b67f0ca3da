"""Orchestrator settings in the admin: global defaults for superusers only; tenant and stack
levels for managers of their tenant, where an empty field inherits."""

from __future__ import annotations

import json

import pytest

from agents.models import OrchestratorSettings
from agents.orchestrator_settings import (
    effective_settings,
    settings_update,
)
from core.secret_store import unseal
from tests.settings.conftest import make_agent

pytestmark = pytest.mark.django_db

GLOBAL = "/admin/agents/globalorchestratorsettings/"
TENANT = "/admin/agents/tenantorchestratorsettings/"
STACK = "/admin/agents/stackorchestratorsettings/"

EMPTY = {
    "model": "",
    "check_interval": "",
    "stall_threshold": "",
    "risk_auto_escalation": "unknown",
    "handoff_mode": "",
    "hot_claim_timeout": "",
    "routing_instructions": "",
    "step_budget": "",
    "token_budget": "",
    "cost_budget": "",
    "response_targets": "",
}


def global_row() -> OrchestratorSettings:
    return OrchestratorSettings.objects.get(level="global")


def global_form(**changes) -> dict:
    row = global_row()
    form = {
        "model": row.model,
        "check_interval": row.check_interval,
        "stall_threshold": row.stall_threshold,
        "risk_categories": row.risk_categories,
        "handoff_mode": row.handoff_mode,
        "hot_claim_timeout": row.hot_claim_timeout,
        "routing_instructions": row.routing_instructions,
        "risk_auto_escalation": "on" if row.risk_auto_escalation else "",
        "step_budget": row.step_budget,
        "token_budget": row.token_budget,
        "cost_budget": row.cost_budget,
        "response_targets": json.dumps(row.response_targets),
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def errors_of(response) -> str:
    return response.content.decode()


# --- Global defaults --------------------------------------------------------------------------


def test_a_superuser_edits_the_global_defaults_and_every_tenant_inherits_them(
    superuser_client, tenant
):
    url = f"{GLOBAL}{global_row().pk}/change/"
    assert superuser_client.get(url).status_code == 200

    response = superuser_client.post(
        url,
        global_form(
            model="gpt-5-mini",
            check_interval="90",
            risk_categories=["legal_threat"],
            handoff_mode="cold",
            risk_auto_escalation=None,  # unchecked: False
        ),
    )

    assert response.status_code == 302, errors_of(response)[:3000]
    effective, sources = effective_settings(tenant=tenant)
    assert effective["model"] == "gpt-5-mini"
    assert effective["checkInterval"] == 90
    assert effective["riskCategories"] == ["legal_threat"]
    assert effective["handoffMode"] == "cold"
    assert effective["riskAutoEscalation"] is False
    assert set(sources.values()) == {"global"}


def test_the_global_defaults_cannot_be_left_empty_or_invalid(superuser_client):
    url = f"{GLOBAL}{global_row().pk}/change/"

    response = superuser_client.post(
        url, global_form(model="", check_interval="0", handoff_mode="warm")
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "This field is required." in page
    assert "Ensure this value is greater than or equal to 1." in page
    assert "Select a valid choice. warm is not one of the available choices." in page
    assert global_row().model == "gpt-4o-mini"


def test_the_global_defaults_are_never_added_or_deleted(superuser_client):
    pk = global_row().pk

    assert superuser_client.get(f"{GLOBAL}add/").status_code == 403
    assert superuser_client.post(f"{GLOBAL}{pk}/delete/", {"post": "yes"}).status_code == 403
    assert OrchestratorSettings.objects.filter(level="global").count() == 1


def test_a_manager_never_sees_the_global_defaults(manager_client):
    url = f"{GLOBAL}{global_row().pk}/change/"

    assert b"globalorchestratorsettings" not in manager_client.get("/admin/").content
    assert manager_client.get(GLOBAL).status_code == 403
    assert manager_client.get(url).status_code in (403, 404)
    response = manager_client.post(url, global_form(model="hijacked"))
    assert response.status_code in (403, 404)
    assert global_row().model == "gpt-4o-mini"
    assert b"Global defaults" not in manager_client.get(TENANT).content


# --- Tenant level -----------------------------------------------------------------------------


def test_a_manager_sets_tenant_values_and_empty_fields_inherit(manager_client, tenant):
    response = manager_client.post(
        f"{TENANT}add/", {**EMPTY, "check_interval": "30", "risk_auto_escalation": "false"}
    )

    assert response.status_code == 302, errors_of(response)[:3000]
    row = OrchestratorSettings.objects.get(level="tenant")
    assert row.tenant == tenant
    assert (row.check_interval, row.risk_auto_escalation) == (30, False)
    assert row.model is None and row.risk_categories is None and row.handoff_mode is None
    assert row.routing_instructions is None and row.stall_threshold is None
    effective, sources = effective_settings(tenant=tenant)
    assert (effective["checkInterval"], sources["checkInterval"]) == (30, "tenant")
    assert (effective["model"], sources["model"]) == ("gpt-4o-mini", "global")


def test_the_tenant_form_shows_what_each_field_inherits_and_the_effective_values(
    manager_client, tenant
):
    row = settings_update(level="tenant", tenant=tenant, changes={"stallThreshold": 5})

    page = manager_client.get(f"{TENANT}{row.pk}/change/").content.decode()

    assert "Empty: inherits 60 (from global)." in page
    assert "Empty: inherits gpt-4o-mini (from global)." in page
    assert (
        "Not overridden: inherits frustration, legal_threat, churn_risk, human_request "
        "(from global)." in page
    )
    assert "<tr><th>stallThreshold</th><td>5</td><td>from tenant</td></tr>" in page
    assert "<tr><th>checkInterval</th><td>60</td><td>from global</td></tr>" in page


def test_clearing_a_tenant_field_in_the_admin_falls_back_to_the_global_default(
    manager_client, tenant
):
    row = settings_update(
        level="tenant",
        tenant=tenant,
        changes={"stallThreshold": 5, "riskCategories": ["churn_risk"], "handoffMode": "hot"},
    )

    response = manager_client.post(f"{TENANT}{row.pk}/change/", {**EMPTY, "stall_threshold": ""})

    assert response.status_code == 302, errors_of(response)[:3000]
    effective, sources = effective_settings(tenant=tenant)
    assert effective["stallThreshold"] == 3
    assert effective["riskCategories"] == [
        "frustration",
        "legal_threat",
        "churn_risk",
        "human_request",
    ]
    assert set(sources.values()) == {"global"}


def test_overriding_risk_categories_with_none_checked_means_no_category(manager_client, tenant):
    response = manager_client.post(f"{TENANT}add/", {**EMPTY, "override_risk_categories": "on"})

    assert response.status_code == 302, errors_of(response)[:3000]
    effective, sources = effective_settings(tenant=tenant)
    assert (effective["riskCategories"], sources["riskCategories"]) == ([], "tenant")


def test_bad_tenant_values_are_form_errors(manager_client, tenant):
    response = manager_client.post(
        f"{TENANT}add/", {**EMPTY, "check_interval": "0", "hot_claim_timeout": "999999"}
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Ensure this value is greater than or equal to 1." in page
    assert "Ensure this value is less than or equal to 86400." in page
    assert not OrchestratorSettings.objects.filter(level="tenant").exists()


def test_a_tenant_has_one_row_so_a_manager_cannot_add_a_second(manager_client, tenant):
    settings_update(level="tenant", tenant=tenant, changes={"checkInterval": 30})

    assert manager_client.get(f"{TENANT}add/").status_code == 403
    assert OrchestratorSettings.objects.filter(level="tenant").count() == 1


def test_a_superuser_adding_a_second_row_for_a_tenant_gets_a_form_error(superuser_client, tenant):
    settings_update(level="tenant", tenant=tenant, changes={"checkInterval": 30})

    response = superuser_client.post(f"{TENANT}add/", {**EMPTY, "tenant": tenant.pk})

    assert response.status_code == 200
    assert "This tenant already has its settings." in response.content.decode()
    assert OrchestratorSettings.objects.filter(level="tenant").count() == 1


def test_a_manager_cannot_list_or_open_another_tenants_rows(
    manager_client, tenant, other_tenant, other_supervisor
):
    theirs = settings_update(level="tenant", tenant=other_tenant, changes={"model": "theirs-1"})
    their_stack = settings_update(
        level="stack", stack=other_supervisor, changes={"model": "theirs-2"}
    )

    assert b"theirs-1" not in manager_client.get(TENANT).content
    assert b"theirs-2" not in manager_client.get(STACK).content
    for url in (f"{TENANT}{theirs.pk}/change/", f"{STACK}{their_stack.pk}/change/"):
        assert manager_client.get(url).status_code == 404
        assert manager_client.post(url, {**EMPTY, "check_interval": "5"}).status_code == 404
        assert (
            manager_client.post(url.replace("change", "delete"), {"post": "yes"}).status_code == 404
        )
    theirs.refresh_from_db()
    assert (theirs.model, theirs.check_interval) == ("theirs-1", None)
    assert OrchestratorSettings.objects.filter(pk=their_stack.pk).exists()


def test_people_without_the_manager_role_cannot_open_the_settings(tenant, human_agent):
    from tests.conftest import login

    human_agent.is_staff = True  # even forged staff status is not enough
    human_agent.save()
    client = login(human_agent)

    assert client.get(TENANT).status_code in (302, 403)
    assert client.get(STACK).status_code in (302, 403)


# --- Stack level ------------------------------------------------------------------------------


def test_stack_choices_list_only_the_top_agents_of_the_managers_tenant(
    manager_client, tenant, supervisor, specialist, other_tenant
):
    make_agent(other_tenant, "agent-elsewhere")

    page = manager_client.get(f"{STACK}add/").content.decode()

    assert f'<option value="{supervisor.pk}">' in page
    assert f'<option value="{specialist.pk}">' not in page
    assert "agent-elsewhere" not in page


def test_a_manager_sets_stack_values_for_a_stack_of_their_tenant(
    manager_client, tenant, supervisor, specialist
):
    settings_update(level="tenant", tenant=tenant, changes={"handoffMode": "cold"})

    response = manager_client.post(
        f"{STACK}add/", {**EMPTY, "stack": supervisor.pk, "handoff_mode": "hot"}
    )

    assert response.status_code == 302, errors_of(response)[:3000]
    row = OrchestratorSettings.objects.get(level="stack")
    assert (row.stack, row.tenant, row.handoff_mode) == (supervisor, tenant, "hot")
    effective, sources = effective_settings(tenant=tenant, agent=specialist)
    assert (effective["handoffMode"], sources["handoffMode"]) == ("hot", "stack")
    page = manager_client.get(f"{STACK}{row.pk}/change/").content.decode()
    assert "<tr><th>handoffMode</th><td>hot</td><td>from stack</td></tr>" in page
    assert "Empty: inherits cold (from tenant)." in page


def test_a_manager_cannot_pick_another_tenants_agent_or_a_specialist_as_a_stack(
    manager_client, tenant, specialist, other_supervisor
):
    for agent in (other_supervisor, specialist):
        response = manager_client.post(f"{STACK}add/", {**EMPTY, "stack": agent.pk})

        assert response.status_code == 200
        assert "Select a valid choice." in response.content.decode()
    assert not OrchestratorSettings.objects.filter(level="stack").exists()


def test_a_stack_has_one_row(manager_client, tenant, supervisor):
    settings_update(level="stack", stack=supervisor, changes={"checkInterval": 30})

    response = manager_client.post(f"{STACK}add/", {**EMPTY, "stack": supervisor.pk})

    assert response.status_code == 200
    assert "This stack already has its settings." in response.content.decode()
    assert OrchestratorSettings.objects.filter(level="stack").count() == 1


def test_a_superuser_sets_stack_values_in_any_tenant(
    superuser_client, other_tenant, other_supervisor
):
    response = superuser_client.post(
        f"{STACK}add/", {**EMPTY, "stack": other_supervisor.pk, "check_interval": "12"}
    )

    assert response.status_code == 302, errors_of(response)[:3000]
    row = OrchestratorSettings.objects.get(level="stack")
    assert (row.tenant, row.stack, row.check_interval) == (other_tenant, other_supervisor, 12)


def test_a_manager_deletes_their_stack_row_and_the_stack_inherits_again(
    manager_client, tenant, supervisor
):
    row = settings_update(level="stack", stack=supervisor, changes={"checkInterval": 30})

    response = manager_client.post(f"{STACK}{row.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert effective_settings(tenant=tenant, agent=supervisor)[1]["checkInterval"] == "global"


def test_budgets_are_set_and_checked_in_the_tenant_settings_form(manager_client, tenant):
    bad = manager_client.post(f"{TENANT}add/", {**EMPTY, "step_budget": "0", "cost_budget": "-1"})
    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert set(errors) >= {"step_budget", "cost_budget"}

    ok = manager_client.post(f"{TENANT}add/", {**EMPTY, "step_budget": "12", "cost_budget": "0.5"})
    assert ok.status_code == 302, errors_of(ok)[:2000]
    effective, sources = effective_settings(tenant=tenant)
    assert (effective["stepBudget"], effective["costBudget"]) == (12, 0.5)
    assert (sources["stepBudget"], sources["tokenBudget"]) == ("tenant", "global")


# --- The orchestrator endpoint's key (write-only) ---------------------------------------------


def test_the_orchestrator_key_is_write_only_in_the_admin_and_clearable(
    manager_client, tenant, supervisor
):
    secret = "sk-orchestrator-very-secret-123"

    created = manager_client.post(
        f"{STACK}add/",
        {
            **EMPTY,
            "stack": supervisor.pk,
            "orchestrator_endpoint": "https://llm.example/v1",
            "orchestrator_api_key_input": secret,
        },
    )

    assert created.status_code == 302, errors_of(created)[:3000]
    row = OrchestratorSettings.objects.get(level="stack")
    assert row.orchestrator_api_key and secret not in row.orchestrator_api_key  # sealed
    assert unseal(row.orchestrator_api_key) == secret
    page = manager_client.get(f"{STACK}{row.pk}/change/").content.decode()
    assert secret not in page
    assert 'type="password" name="orchestrator_api_key_input"' in page
    assert "Set at this level (stored encrypted, never shown)." in page
    assert "<tr><th>orchestratorApiKey</th><td>set</td><td>from stack</td></tr>" in page

    # saved again without typing a key: the key stays
    kept = manager_client.post(
        f"{STACK}{row.pk}/change/", {**EMPTY, "orchestrator_endpoint": "https://llm.example/v1"}
    )
    assert kept.status_code == 302, errors_of(kept)[:3000]
    row.refresh_from_db()
    assert unseal(row.orchestrator_api_key) == secret

    cleared = manager_client.post(
        f"{STACK}{row.pk}/change/", {**EMPTY, "clear_orchestrator_api_key": "on"}
    )
    assert cleared.status_code == 302, errors_of(cleared)[:3000]
    row.refresh_from_db()
    assert row.orchestrator_api_key == ""
    page = manager_client.get(f"{STACK}{row.pk}/change/").content.decode()
    assert "<tr><th>orchestratorApiKey</th><td>not set</td><td></td></tr>" in page
    assert "No key stored at this level." in page


def test_a_stack_without_its_own_key_says_the_tenants_applies(manager_client, tenant, supervisor):
    settings_update(level="tenant", tenant=tenant, changes={"orchestratorApiKey": "sk-tenant-1"})
    row = settings_update(level="stack", stack=supervisor, changes={"stallThreshold": 4})

    page = manager_client.get(f"{STACK}{row.pk}/change/").content.decode()

    assert "Not set at this level; the key set for the tenant applies." in page
    assert "sk-tenant-1" not in page
    assert "<tr><th>orchestratorApiKey</th><td>set</td><td>from tenant</td></tr>" in page


def test_a_blank_key_with_clear_or_both_at_once_are_form_errors(manager_client, tenant):
    both = manager_client.post(
        f"{TENANT}add/",
        {**EMPTY, "orchestrator_api_key_input": "sk-1", "clear_orchestrator_api_key": "on"},
    )
    assert both.status_code == 200
    assert "Either type a new key or clear it, not both." in errors_of(both)
    spaces = manager_client.post(f"{TENANT}add/", {**EMPTY, "orchestrator_api_key_input": "   "})
    assert spaces.status_code == 200
    assert "Enter the API key as a non-empty string." in errors_of(spaces)
    assert not OrchestratorSettings.objects.filter(level="tenant").exists()


def test_the_global_defaults_store_no_key(superuser_client):
    page = superuser_client.get(f"{GLOBAL}{global_row().pk}/change/").content.decode()

    assert "orchestrator_api_key_input" not in page
