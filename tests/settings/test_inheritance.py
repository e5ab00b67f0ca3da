"""Orchestrator settings inherited global -> tenant -> stack: the selector and the service."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from agents.models import (
    Agent,
    OrchestratorSettings,
    SettingsLevel,
)
from agents.orchestrator_settings import (
    defaults,
    effective_settings,
    render_routing_instructions,
    settings_overview,
    settings_update,
    stack_root,
)
from tests.settings.conftest import make_agent

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "model": "gpt-4o-mini",
    "checkInterval": 60,
    "stallThreshold": 3,
    "riskAutoEscalation": True,
    "riskCategories": ["frustration", "legal_threat", "churn_risk", "human_request"],
    "riskDetection": {
        category: {"add": [], "remove": [], "threshold": 0.5}
        for category in ("frustration", "legal_threat", "churn_risk", "human_request")
    },
    "handoffMode": "auto",
    "hotClaimTimeout": 120,
    "routingInstructions": "",
    "orchestratorEndpoint": "",
    "stepBudget": 100,
    "tokenBudget": 200_000,
    "costBudget": 5.0,
    "responseTargets": {
        "urgent": {"firstResponse": 300, "resolution": 14_400},
        "high": {"firstResponse": 900, "resolution": 28_800},
        "medium": {"firstResponse": 1800, "resolution": 86_400},
        "low": {"firstResponse": 3600, "resolution": 172_800},
    },
    "chatWorkflow": "",
}
ALL_GLOBAL = dict.fromkeys(DEFAULTS, "global")
GLOBAL_COLUMNS = {
    "model": "gpt-4o-mini",
    "check_interval": 60,
    "stall_threshold": 3,
    "risk_auto_escalation": True,
    "risk_categories": [],
    "handoff_mode": "auto",
    "hot_claim_timeout": 120,
    "routing_instructions": "",
    "orchestrator_endpoint": "",
    "step_budget": 100,
    "token_budget": 200_000,
    "cost_budget": 5.0,
    "response_targets": DEFAULTS["responseTargets"],
    "chat_workflow": "",
    "risk_detection": DEFAULTS["riskDetection"],
}


def test_the_migration_creates_one_global_row_with_the_spec_defaults():
    row = OrchestratorSettings.objects.get(level=SettingsLevel.GLOBAL)

    assert (row.tenant, row.stack) == (None, None)
    assert defaults() == DEFAULTS
    assert settings_overview(tenant=None).levels["global"] == DEFAULTS


def test_with_nothing_set_every_value_is_the_global_default(tenant, specialist):
    effective, sources = effective_settings(tenant=tenant, agent=specialist)

    assert effective == DEFAULTS
    assert sources == ALL_GLOBAL


def test_a_tenant_value_overrides_the_global_default_for_all_its_stacks(tenant, specialist):
    settings_update(
        level="tenant", tenant=tenant, changes={"checkInterval": 30, "handoffMode": "cold"}
    )

    effective, sources = effective_settings(tenant=tenant, agent=specialist)

    assert effective == {**DEFAULTS, "checkInterval": 30, "handoffMode": "cold"}
    assert sources == {**ALL_GLOBAL, "checkInterval": "tenant", "handoffMode": "tenant"}
    assert effective_settings(tenant=tenant) == (effective, sources)


def test_a_stack_value_overrides_the_tenant_for_every_agent_of_that_stack_only(
    tenant, supervisor, specialist
):
    other_stack = make_agent(tenant, "agent-sales")
    settings_update(level="tenant", tenant=tenant, changes={"checkInterval": 30})
    settings_update(level="stack", stack=supervisor, changes={"checkInterval": 10})

    for agent in (supervisor, specialist):
        effective, sources = effective_settings(tenant=tenant, agent=agent)
        assert (effective["checkInterval"], sources["checkInterval"]) == (10, "stack")
    effective, sources = effective_settings(tenant=tenant, agent=other_stack)
    assert (effective["checkInterval"], sources["checkInterval"]) == (30, "tenant")
    effective, sources = effective_settings(tenant=tenant)
    assert (effective["checkInterval"], sources["checkInterval"]) == (30, "tenant")


def test_every_setting_can_be_overridden_at_the_stack(tenant, supervisor):
    values = {
        "model": "gpt-4.1",
        "checkInterval": 5,
        "stallThreshold": 7,
        "riskAutoEscalation": False,
        "riskCategories": [],
        "riskDetection": {
            **DEFAULTS["riskDetection"],
            "frustration": {"add": ["rubbish service"], "remove": ["shouting"], "threshold": 0.8},
        },
        "handoffMode": "hot",
        "hotClaimTimeout": 45,
        "routingInstructions": "Route {{TENANT_NAME}} refunds to billing.",
        "orchestratorEndpoint": "https://llm.example/v1",
        "stepBudget": 20,
        "tokenBudget": 5_000,
        "costBudget": 0.25,
        "responseTargets": {
            band: {"firstResponse": 60, "resolution": 600}
            for band in ("urgent", "high", "medium", "low")
        },
        "chatWorkflow": "",
    }

    settings_update(level="stack", stack=supervisor, changes=values)

    assert effective_settings(tenant=tenant, agent=supervisor) == (
        values,
        dict.fromkeys(values, "stack"),
    )


def test_clearing_with_none_falls_back_one_level_at_a_time(tenant, supervisor, specialist):
    settings_update(level="tenant", tenant=tenant, changes={"stallThreshold": 5})
    settings_update(level="stack", stack=supervisor, changes={"stallThreshold": 8})

    settings_update(level="stack", stack=supervisor, changes={"stallThreshold": None})
    after_stack_cleared = effective_settings(tenant=tenant, agent=specialist)
    settings_update(level="tenant", tenant=tenant, changes={"stallThreshold": None})
    after_tenant_cleared = effective_settings(tenant=tenant, agent=specialist)

    assert (after_stack_cleared[0]["stallThreshold"], after_stack_cleared[1]["stallThreshold"]) == (
        5,
        "tenant",
    )
    assert (
        after_tenant_cleared[0]["stallThreshold"],
        after_tenant_cleared[1]["stallThreshold"],
    ) == (3, "global")
    row = OrchestratorSettings.objects.get(level="stack", stack=supervisor)
    assert row.stall_threshold is None


def test_an_explicit_false_or_empty_value_overrides_instead_of_inheriting(tenant, supervisor):
    settings_update(
        level="stack",
        stack=supervisor,
        changes={"riskAutoEscalation": False, "riskCategories": [], "routingInstructions": ""},
    )

    effective, sources = effective_settings(tenant=tenant, agent=supervisor)

    assert effective["riskAutoEscalation"] is False
    assert effective["riskCategories"] == []
    assert sources["riskAutoEscalation"] == sources["riskCategories"] == "stack"
    assert sources["routingInstructions"] == "stack"


def test_a_new_global_default_reaches_every_tenant_that_does_not_override_it(tenant, other_tenant):
    settings_update(level="tenant", tenant=other_tenant, changes={"model": "gpt-4.1"})

    settings_update(level="global", changes={"model": "gpt-5-mini"})

    assert effective_settings(tenant=tenant)[0]["model"] == "gpt-5-mini"
    assert effective_settings(tenant=other_tenant)[0]["model"] == "gpt-4.1"


def test_the_global_defaults_cannot_be_cleared():
    with pytest.raises(ValidationError) as caught:
        settings_update(level="global", changes={"model": None, "checkInterval": 10})

    assert caught.value.message_dict == {
        "model": ["The global default cannot be cleared; set another value."]
    }
    assert OrchestratorSettings.objects.get(level="global").check_interval == 60


def test_tenant_settings_never_leak_into_another_tenant(tenant, other_tenant, other_supervisor):
    settings_update(level="tenant", tenant=other_tenant, changes={"handoffMode": "hot"})
    settings_update(level="stack", stack=other_supervisor, changes={"stallThreshold": 9})
    mine = make_agent(tenant, "agent-front")

    effective, sources = effective_settings(tenant=tenant, agent=mine)

    assert effective == DEFAULTS
    assert sources == ALL_GLOBAL


def test_an_agent_of_another_tenant_is_refused_by_the_selector(tenant, other_supervisor):
    with pytest.raises(ValueError, match="another tenant"):
        effective_settings(tenant=tenant, agent=other_supervisor)


def test_updating_a_level_twice_keeps_one_row(tenant, supervisor):
    settings_update(level="tenant", tenant=tenant, changes={"checkInterval": 30})
    settings_update(level="tenant", tenant=tenant, changes={"stallThreshold": 4})
    settings_update(level="stack", stack=supervisor, changes={"checkInterval": 20})
    settings_update(level="stack", stack=supervisor, changes={"checkInterval": 25})

    assert OrchestratorSettings.objects.filter(level="tenant").count() == 1
    assert OrchestratorSettings.objects.filter(level="stack").count() == 1
    row = OrchestratorSettings.objects.get(level="tenant")
    assert (row.check_interval, row.stall_threshold) == (30, 4)
    assert OrchestratorSettings.objects.get(level="stack").tenant == tenant


# --- Stacks -----------------------------------------------------------------------------------


def test_the_stack_of_an_agent_is_the_top_of_its_supervisor_chain(
    tenant, django_assert_num_queries
):
    top = make_agent(tenant, "agent-top")
    middle = make_agent(tenant, "agent-middle", top)
    leaf = make_agent(tenant, "agent-leaf", middle)
    deeper = make_agent(tenant, "agent-deeper", leaf)
    alone = make_agent(tenant, "agent-alone")

    with django_assert_num_queries(1):
        assert stack_root(deeper).slug == "agent-top"
    assert stack_root(middle) == top
    with django_assert_num_queries(0):
        assert stack_root(top) is top
        assert stack_root(alone) is alone


def test_a_supervisor_cycle_ends_the_walk_instead_of_looping(tenant):
    first = make_agent(tenant, "agent-first")
    second = make_agent(tenant, "agent-second", first)
    Agent.objects.filter(pk=first.pk).update(supervisor=second)  # forged: services refuse this
    first.refresh_from_db()

    assert stack_root(first) in (first, second)


def test_stack_settings_belong_to_the_top_agent_of_the_stack(supervisor, specialist):
    with pytest.raises(ValidationError) as caught:
        settings_update(level="stack", stack=specialist, changes={"checkInterval": 5})

    assert caught.value.message_dict == {
        "stack": [
            "agent-billing reports to a supervisor; settings belong to the top of its stack "
            "(agent-front)."
        ]
    }
    assert not OrchestratorSettings.objects.filter(level="stack").exists()


def test_a_stack_of_another_tenant_is_refused(tenant, other_supervisor):
    with pytest.raises(ValidationError) as caught:
        settings_update(
            level="stack", tenant=tenant, stack=other_supervisor, changes={"checkInterval": 5}
        )

    assert caught.value.message_dict == {"stack": ["This agent belongs to another tenant."]}


def test_reading_costs_the_same_queries_whatever_the_depth_and_the_levels(
    tenant, supervisor, specialist, django_assert_num_queries
):
    chain = [supervisor, specialist]
    for depth in range(4):
        chain.append(make_agent(tenant, f"agent-level-{depth}", chain[-1]))
    shallow_without_rows = specialist
    deep_with_every_level = chain[-1]
    other_stack = make_agent(tenant, "agent-other")
    other_specialist = make_agent(tenant, "agent-other-specialist", other_stack)
    settings_update(level="tenant", tenant=tenant, changes={"checkInterval": 30})
    settings_update(level="stack", stack=supervisor, changes={"stallThreshold": 8})

    for agent in (shallow_without_rows, deep_with_every_level, other_specialist):
        with django_assert_num_queries(2):  # the supervisor links, the three level rows
            effective_settings(tenant=tenant, agent=agent)
    for agent in (supervisor, other_stack):
        with django_assert_num_queries(1):  # a stack's top agent needs no walk
            effective_settings(tenant=tenant, agent=agent)
    with django_assert_num_queries(1):
        effective_settings(tenant=tenant)


# --- Validation -------------------------------------------------------------------------------

INVALID = [
    ("model", "", "Enter a model name, e.g. gpt-4o-mini."),
    ("model", "   ", "Enter a model name, e.g. gpt-4o-mini."),
    ("model", 4, "Enter the model name as a string."),
    ("model", "m" * 201, "Ensure this value has at most 200 characters (it has 201)."),
    ("checkInterval", 0, "Ensure this value is greater than or equal to 1."),
    ("checkInterval", -5, "Ensure this value is greater than or equal to 1."),
    ("checkInterval", 1.5, "Enter a whole number."),
    ("checkInterval", "60", "Enter a whole number."),
    ("checkInterval", True, "Enter a whole number."),
    ("checkInterval", 86_401, "Ensure this value is less than or equal to 86400."),
    ("stallThreshold", 0, "Ensure this value is greater than or equal to 1."),
    ("stallThreshold", 1_001, "Ensure this value is less than or equal to 1000."),
    ("stallThreshold", [3], "Enter a whole number."),
    ("riskAutoEscalation", "yes", "Must be true or false."),
    ("riskAutoEscalation", 1, "Must be true or false."),
    (
        "riskCategories",
        "frustration",
        "Must be a list of risk categories among "
        "frustration, legal_threat, churn_risk, human_request.",
    ),
    (
        "riskCategories",
        ["frustration", "boredom"],
        '"boredom" is not one of frustration, legal_threat, churn_risk, human_request.',
    ),
    (
        "riskCategories",
        [1],
        "1 is not one of frustration, legal_threat, churn_risk, human_request.",
    ),
    ("riskCategories", ["churn_risk", "churn_risk"], '"churn_risk" is listed twice.'),
    ("handoffMode", "warm", '"warm" is not one of hot, cold, auto.'),
    ("handoffMode", "HOT", '"HOT" is not one of hot, cold, auto.'),
    ("handoffMode", 1, "1 is not one of hot, cold, auto."),
    ("hotClaimTimeout", 0, "Ensure this value is greater than or equal to 1."),
    ("hotClaimTimeout", "soon", "Enter a whole number."),
    ("routingInstructions", ["x"], "Must be text."),
    ("stepBudget", 0, "Ensure this value is greater than or equal to 1."),
    ("tokenBudget", "lots", "Enter a whole number."),
    ("costBudget", 0, "Ensure this value is greater than 0."),
    ("costBudget", True, "Enter a number."),
    (
        "routingInstructions",
        "x" * 10_001,
        "Ensure this value has at most 10000 characters (it has 10001).",
    ),
    (
        "responseTargets",
        {"urgent": {"firstResponse": 60, "resolution": 600}},
        "Must be an object with urgent, high, medium and low, each "
        '{"firstResponse": seconds, "resolution": seconds}.',
    ),
    ("colour", "blue", "unknown setting"),
]


@pytest.mark.parametrize(("name", "value", "message"), INVALID)
@pytest.mark.parametrize("level", ["global", "tenant", "stack"])
def test_every_setting_is_validated_at_every_level(tenant, supervisor, level, name, value, message):
    owner = {"global": {}, "tenant": {"tenant": tenant}, "stack": {"stack": supervisor}}[level]

    with pytest.raises(ValidationError) as caught:
        settings_update(level=level, changes={name: value}, **owner)

    assert caught.value.message_dict == {name: [message]}
    assert effective_settings(tenant=tenant, agent=supervisor)[0] == DEFAULTS


def test_every_bad_name_is_reported_at_once_and_nothing_is_written(tenant):
    with pytest.raises(ValidationError) as caught:
        settings_update(
            level="tenant",
            tenant=tenant,
            changes={"checkInterval": 0, "handoffMode": "warm", "stallThreshold": 4},
        )

    assert set(caught.value.message_dict) == {"checkInterval", "handoffMode"}
    assert not OrchestratorSettings.objects.filter(level="tenant").exists()


def test_whole_floats_and_padded_model_names_are_accepted_as_what_they_mean(tenant):
    row = settings_update(
        level="tenant", tenant=tenant, changes={"checkInterval": 30.0, "model": " gpt-4.1 "}
    )

    assert (row.check_interval, row.model) == (30, "gpt-4.1")


@pytest.mark.parametrize(
    ("field", "value"),
    [("check_interval", 0), ("stall_threshold", 0), ("hot_claim_timeout", 0)],
)
def test_the_database_refuses_values_below_one(tenant, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        OrchestratorSettings.objects.create(level="tenant", tenant=tenant, **{field: value})


def test_the_database_keeps_one_global_row_and_one_row_per_tenant_and_stack(tenant, supervisor):
    OrchestratorSettings.objects.create(level="tenant", tenant=tenant)
    OrchestratorSettings.objects.create(level="stack", tenant=tenant, stack=supervisor)
    duplicates = [
        {"level": "global", **GLOBAL_COLUMNS},
        {"level": "tenant", "tenant": tenant},
        {"level": "stack", "tenant": tenant, "stack": supervisor},
    ]

    for row in duplicates:
        with pytest.raises(IntegrityError), transaction.atomic():
            OrchestratorSettings.objects.create(**row)


def test_the_database_refuses_incomplete_global_defaults_and_mismatched_levels(tenant, supervisor):
    bad_rows = [
        {"level": "global", "model": "gpt-4o-mini"},  # incomplete (and a second one)
        {"level": "tenant"},  # no tenant
        {"level": "stack", "tenant": tenant},  # no stack
        {"level": "global", "tenant": tenant, **GLOBAL_COLUMNS},
        {"level": "tenant", "tenant": tenant, "handoff_mode": "warm"},
    ]
    OrchestratorSettings.objects.filter(level="global").delete()

    for row in bad_rows:
        with pytest.raises(IntegrityError), transaction.atomic():
            OrchestratorSettings.objects.create(**row)


def test_without_a_global_row_the_built_in_defaults_apply_and_the_row_comes_back(tenant):
    OrchestratorSettings.objects.filter(level="global").delete()

    assert effective_settings(tenant=tenant) == (DEFAULTS, ALL_GLOBAL)
    settings_update(level="global", changes={"checkInterval": 15})
    row = OrchestratorSettings.objects.get(level="global")
    assert (row.check_interval, row.model) == (15, "gpt-4o-mini")


# --- Routing instructions ---------------------------------------------------------------------


def test_routing_instructions_name_the_tenant_at_run_time(tenant, supervisor):
    settings_update(
        level="tenant",
        tenant=tenant,
        changes={"routingInstructions": "You route for {{TENANT_NAME}}; {{ TENANT_NAME }} only."},
    )
    text = effective_settings(tenant=tenant, agent=supervisor)[0]["routingInstructions"]

    assert render_routing_instructions(text, tenant) == "You route for Acme; Acme only."
    assert render_routing_instructions("", tenant) == ""


def test_a_tenant_name_with_backslashes_is_inserted_literally(tenant):
    tenant.name = r"Acme \1 \g<0>"

    assert render_routing_instructions("For {{TENANT_NAME}}.", tenant) == r"For Acme \1 \g<0>."
