"""Regressions: each test is a request or a condition the fuzzers (test_api_schema.py,
test_condition_fuzz.py) found answering 500 or raising, reduced to its essence."""

from __future__ import annotations

import pytest

AGENT = "/api/v1/agents/agent-sup"


@pytest.fixture
def sup(tenant):
    from agents.models import Agent

    return Agent.objects.create(tenant=tenant, slug="agent-sup", name="Desk", role="supervisor")


@pytest.mark.parametrize(
    ("knowledge", "field"),
    [
        ([{"question": "q", "answer": "a", "action": {}}], "knowledge[0].action.name"),
        ([{"question": "q", "answer": "a", "action": {"params": {}}}], "knowledge[0].action.name"),
        ([{"answer": "a"}], "knowledge[0].question"),
        ([{"question": "q"}], "knowledge[0].answer"),
    ],
)
def test_a_patch_with_an_incomplete_knowledge_entry_is_400_not_500(
    key_client, sup, knowledge, field
):
    """PATCH is partial, and DRF used to skip the required fields of nested objects too: an
    action without a name reached ``data["name"]`` (KeyError, 500)."""
    response = key_client.patch(AGENT, {"knowledge": knowledge}, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_patch_still_leaves_out_top_level_fields(key_client, sup):
    response = key_client.patch(AGENT, {"name": "Front desk"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Front desk"
    assert response.json()["role"] == "supervisor"


def test_api_keys_document_their_nullable_dates(client):
    schema = client.get("/api/schema/?format=json").json()
    key = schema["components"]["schemas"]["ApiKey"]["properties"]

    assert key["revokedAt"].get("nullable") is True
    assert key["lastUsedAt"].get("nullable") is True


def test_every_operation_documents_the_api_errors(client):
    schema = client.get("/api/schema/?format=json").json()

    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert {"400", "401", "403", "404", "429"} <= set(responses), (method, path)
            assert "Retry-After" in responses["429"]["headers"]
