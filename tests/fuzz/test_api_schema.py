"""Schemathesis against our own OpenAPI schema (``/api/schema/``): every operation, called in
process through Django's WSGI handler with generated (valid and invalid) parameters and bodies,
never answers 5xx, and what it answers matches the schema where the schema says something.

Two callers: a tenant API key (the integrations' way in) and the personal token of a person who
holds every role (so approve, claim and the manager-only operations run past their permission
checks). Two kinds of ids in paths: generated ones (mostly "not found") and those of real rows
of the caller's tenant (an agent, a conversation with a handoff and a pending approval, a
workflow, a stack template, an API key), so generated bodies reach the services.

A third pass makes the generated requests hostile the way attackers did (issue 15): a lone
surrogate (``"\ud800"``, valid JSON that UTF-8 and PostgreSQL cannot hold) or a NUL in a value
or a key anywhere in the body, 65 to 100,000 nested brackets in place of a value, a number that
overflows to Infinity (``1e400``), dates at the calendar's edges in date parameters, and
integers past PostgreSQL's bigint in integer parameters. Every one must be a 4xx, never a 5xx.

Bounded for CI: ``FUZZ_API_EXAMPLES`` examples per operation (default 5; ids of real rows get
twice as many). Run longer with e.g. ``FUZZ_API_EXAMPLES=200``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core import services
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

# ...and a third time for the hostile pass, whose extra strategy schema examples cannot feed.
generated_only = schemathesis.openapi.from_wsgi(
    "/api/schema/",
    wsgi_app,
    config=SchemathesisConfig.from_dict(
        {"phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}}}
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
    from tests.factories import TO_PEOPLE, make_team

    boss = make_person(tenant=tenant, roles=["manager", "agent", "approver"], username="boss")
    make_person(tenant=tenant, roles=["approver"], username="priya")
    sup = make_team(tenant, **TO_PEOPLE).sup
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


# -- hostile requests (issue 15) -----------------------------------------------------------------

HOSTILE_STRINGS = ["\ud800", "a\udfffb", "\udbff\udbff", "\ud83d", "\x00", "a\x00\ud800"]
CALENDAR_EDGES = [
    "0001-01-01",
    "0001-01-02",
    "9999-12-31",
    "9999-12-30T23:59:59",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00Z",
    "0000-01-01",
    "10000-01-01",
    "2025-02-30",
    "2025-03-01T24:00:00",
    "2025-03-01T00:00:00+99:00",
]
INTEGER_EDGES = [2**63, -(2**63) - 1, 10**30, -1, 0]
DATE_PARAMETERS = {"from", "to", "since", "until", "before", "after"}
SENTINEL = "__hostile_raw_json__"


def _places(body: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``body`` whose value a mutation may replace."""
    places: list[tuple[Any, Any]] = []
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                places.append((item, key))
                stack.append(value)
        elif isinstance(item, list):
            for index, value in enumerate(item):
                places.append((item, index))
                stack.append(value)
    return places


@st.composite
def hostile_body(draw, body: Any) -> Any:
    """``body`` with one hostile change, as the JSON text a client would send (bytes, with
    lone surrogates escaped: schemathesis would try to encode them)."""
    body = json.loads(json.dumps(body))  # a copy the mutation may change
    kind = draw(st.sampled_from(["value", "key", "deep", "overflow"]))
    places = _places(body)
    raw: str | None = None
    if kind == "key":
        targets = [c for c in [body, *(c for c, _ in places)] if isinstance(c, dict)]
        if targets:
            draw(st.sampled_from(targets))[draw(st.sampled_from(HOSTILE_STRINGS))] = "x"
            return json.dumps(body).encode()
        kind = "value"
    if kind == "value":
        hostile = draw(st.sampled_from(HOSTILE_STRINGS))
        value = draw(st.sampled_from([hostile, f"billing {hostile}", [hostile], {"k": hostile}]))
    else:
        depth = draw(st.sampled_from([65, 1_000, 100_000]))
        bracket = draw(st.sampled_from(["[]", "{}"]))
        raw = (
            "1e400"
            if kind == "overflow"
            else ("[" * depth + "]" * depth)
            if bracket == "[]"
            else ('{"a":' * depth + "1" + "}" * depth)
        )
        value = SENTINEL
    if places:
        container, key = draw(st.sampled_from(places))
        container[key] = value
    else:
        body = value
    text = json.dumps(body)
    return (text if raw is None else text.replace(json.dumps(SENTINEL), raw)).encode()


def _is_json(body: Any) -> bool:
    try:
        json.dumps(body)
    except (TypeError, ValueError):  # raw bytes schemathesis generated: left as they are
        return False
    return True


def make_hostile(case, data) -> None:
    if not isinstance(case.body, NotSet) and _is_json(case.body):
        case.body = data.draw(hostile_body(case.body), label="body")
    for name, value in list((case.query or {}).items()):
        if name in DATE_PARAMETERS and isinstance(value, str):
            case.query[name] = data.draw(st.sampled_from(CALENDAR_EDGES), label=name)
        elif isinstance(value, int) and not isinstance(value, bool):
            case.query[name] = data.draw(st.sampled_from(INTEGER_EDGES), label=name)
    if case.operation.path == "/api/v1/metrics":  # its dates are optional: give them always
        case.query = {
            **(case.query or {}),
            "from": data.draw(st.sampled_from(CALENDAR_EDGES), label="from"),
            "to": data.draw(st.sampled_from(CALENDAR_EDGES), label="to"),
        }


@generated_only.parametrize()
@generated_only.given(data=st.data())
@settings(max_examples=2 * EXAMPLES, **FUZZ_SETTINGS)
def test_hostile_requests_on_real_rows_never_get_a_server_error(case, data, world):
    on_real_rows(case, world)
    make_hostile(case, data)
    keep_the_tests_connection()
    key = world["callers"]["api key"]
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    response = case.call()

    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.json()["error"]["code"]
