"""Schemathesis against our own OpenAPI schema (``/api/schema/``): every operation, called in
process through Django's WSGI handler with generated (valid and invalid) parameters and bodies,
never answers 5xx, and what it answers matches the schema where the schema says something.

Two callers: a tenant API key (the integrations' way in) and the personal token of a person who
holds every role (so approve, claim and the manager-only operations run past their permission
checks). Two kinds of ids in paths: generated ones (mostly "not found") and those of real rows
of the caller's tenant (an agent, a conversation with a handoff and a pending approval, a
workflow, a stack template, an API key), so generated bodies reach the services.

Bounded for CI: ``FUZZ_API_EXAMPLES`` examples per operation (default 5; ids of real rows get
twice as many). Run longer with e.g. ``FUZZ_API_EXAMPLES=200``.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from orchestration import services
from tests.factories import make_api_key, make_person

EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", "5"))

wsgi_app = get_wsgi_application()


# Loaded at collection (the schema view reads no rows), twice: for random generation bounded by
# max_examples, and for schemathesis' coverage phase (deterministic edge cases of every
# parameter and body field: empty, too long, wrong types, boundaries), which is not bounded by
# max_examples and so runs once, for the API key on real rows.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    wsgi_app,
    config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}),
)
edges = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    wsgi_app,
    config=SchemathesisConfig.from_dict(
        {"phases": {"examples": {"enabled": False}, "fuzzing": {"enabled": False}}}
    ),
)


def keep_the_tests_connection() -> None:
    """Django's handler closes database connections at each request's start and end; inside a
    test's transaction that would lose it. Django's test client disconnects the same receiver
    around its own requests (and connects it again after each one)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)


@pytest.fixture
def connections_closed_again_after():
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(tenant, settings, connections_closed_again_after):
    """Rows of the caller's tenant for the path ids, and the two callers' credentials."""
    settings.API_RATE_LIMIT = "1000000/min"  # counted, never reached
    from tests.handover.conftest import _make_team_sync

    boss = make_person(tenant=tenant, roles=["manager", "agent", "approver"], username="boss")
    make_person(tenant=tenant, roles=["approver"], username="priya")
    sup = _make_team_sync(tenant)
    api_key, raw_key = make_api_key(tenant=tenant)
    _, raw_token = services.personal_token_create(user=boss, name="fuzz")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    ok = client.post(
        f"/api/v1/agents/{sup.slug}/orchestration/rules",
        {
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya", "boss"],
            },
        },
        format="json",
    )
    assert ok.status_code == 201, ok.content
    conversation = client.post(
        "/api/v1/conversations",
        {"agentId": sup.slug, "channel": "email", "customer": {"id": "c-1"}},
        format="json",
    ).json()
    approval = client.post(
        f"/api/v1/conversations/{conversation['id']}/actions",
        {
            "action": "issue_refund",
            "params": {"orderId": "A-1", "amount": 500},
            "idempotencyKey": "k1",
        },
        format="json",
    ).json()["approval"]
    handoff = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages",
        {"text": "I want a human", "signals": {"intent": "human_agent"}},
        format="json",
    ).json()["handoff"]
    workflow = client.post(
        "/api/v1/workflows",
        {"name": "triage", "steps": [{"agent": sup.slug, "condition": "start"}]},
        format="json",
    ).json()
    template = client.post(
        "/api/v1/stack-templates", {"name": "fuzz", "agentId": sup.slug}, format="json"
    ).json()
    ids = {
        "agent_id": sup.slug,
        "conversation_id": conversation["id"],
        "approval_id": approval["id"],
        "handoff_id": handoff["id"] if handoff else None,
        "workflow_id": workflow.get("id"),
        "template_id": template.get("id"),
        "key_id": api_key.pk,
        "version": 1,
    }
    return {
        "ids": {name: value for name, value in ids.items() if value is not None},
        "callers": {"api key": raw_key, "person token": raw_token},
    }


# No 5xx, and what comes back is what the schema says (status, content type, headers, body);
# Not checked: that every schema-valid request is accepted (business rules such as "an agent's
# supervisor must be a supervisor" are not in the schema); that every schema-violating one is
# refused (DRF's fields coerce 0 to "0" and false to 0.0, as they always have); and that
# generated credentials are refused (ours are given, not generated; tests/orchestration covers
# authentication).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,  # nothing written to the working tree
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.explicit, Phase.generate, Phase.shrink],
}


def call(case, world, caller):
    keep_the_tests_connection()
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {world['callers'][caller]}"}
    return case.call_and_validate(checks=CHECKS)


def on_real_rows(case, world):
    for name in case.path_parameters or {}:
        if name in world["ids"]:
            case.path_parameters[name] = world["ids"][name]


@edges.parametrize()
@settings(**FUZZ_SETTINGS)
def test_edge_cases_on_real_rows_never_get_a_server_error(case, world):
    on_real_rows(case, world)
    call(case, world, "api key")


@schema.parametrize()
@settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
def test_an_api_key_never_gets_a_server_error(case, world):
    call(case, world, "api key")


@schema.parametrize()
@settings(max_examples=2 * EXAMPLES, **FUZZ_SETTINGS)
def test_an_api_key_on_real_rows_never_gets_a_server_error(case, world):
    on_real_rows(case, world)
    call(case, world, "api key")


@schema.parametrize()
@settings(max_examples=2 * EXAMPLES, **FUZZ_SETTINGS)
def test_a_person_token_on_real_rows_never_gets_a_server_error(case, world):
    on_real_rows(case, world)
    call(case, world, "person token")
