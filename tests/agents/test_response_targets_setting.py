"""The response targets are an orchestrator setting (issue 19, point 5): set and cleared at
the tenant or stack level through the API and the admin like the others, checked field by
field (a bad value is a 400 naming it, never a 500)."""

from __future__ import annotations

import pytest

from agents.orchestrator_settings import (
    BANDS,
    DEFAULT_RESPONSE_TARGETS,
    effective_settings,
    priority_band,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/orchestrator-settings"


def targets(first=600, resolution=7200):
    return {band: {"firstResponse": first, "resolution": resolution} for band in BANDS}


def test_the_tenant_sets_and_clears_its_targets_through_the_api(key_client, tenant, team):
    assert key_client.get(URL).json()["effective"]["responseTargets"] == DEFAULT_RESPONSE_TARGETS

    response = key_client.patch(URL, {"responseTargets": targets()}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["effective"]["responseTargets"] == targets()
    assert body["sources"]["responseTargets"] == "tenant"
    cleared = key_client.patch(URL, {"responseTargets": None}, format="json").json()
    assert cleared["sources"]["responseTargets"] == "global"


@pytest.mark.parametrize(
    "value",
    [
        {"urgent": {"firstResponse": 60, "resolution": 600}},  # bands missing
        {**targets(), "urgent": {"firstResponse": 0, "resolution": 600}},
        {**targets(), "low": {"firstResponse": 600}},
        {**targets(), "high": {"firstResponse": 900, "resolution": 60}},  # shorter
        {**targets(), "medium": {"firstResponse": "soon", "resolution": 600}},
        {**targets(), "extra": {"firstResponse": 1, "resolution": 1}},
        [1, 2],
        "fast",
    ],
)
def test_bad_targets_are_a_400_naming_the_setting(key_client, tenant, team, value):
    response = key_client.patch(URL, {"responseTargets": value}, format="json")

    assert response.status_code == 400
    assert "responseTargets" in response.json()["error"]["fields"]
    assert effective_settings(tenant=tenant)[0]["responseTargets"] == DEFAULT_RESPONSE_TARGETS


def test_a_stack_overrides_the_tenants_targets(key_client, tenant, team):
    key_client.patch(URL, {"responseTargets": targets(600)}, format="json")

    response = key_client.patch(
        "/api/v1/agents/agent-sup/orchestrator-settings",
        {"responseTargets": targets(60)},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert effective_settings(tenant=tenant, agent=team[1])[0]["responseTargets"] == targets(60)
    assert effective_settings(tenant=tenant)[0]["responseTargets"] == targets(600)


@pytest.mark.parametrize(
    ("priority", "band"), [(0, "low"), (9, "low"), (10, "medium"), (20, "high"), (45, "urgent")]
)
def test_a_priority_score_falls_in_the_inboxs_bands(priority, band):
    assert priority_band(priority) == band
