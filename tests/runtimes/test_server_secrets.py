"""A tenant never makes the server send one of its own settings (issue 15, part 1).

The attack: an openai agent whose apiKeyEnv names SECRET_KEY (or DATABASE_URL, REDIS_URL,
another tenant's key variable) and whose baseUrl is a host the tenant controls; the server
then sent that setting as a Bearer token. Here the tenant's host is a local threaded HTTP
listener that records every request, and the settings are in the process environment, as in
production. Saving such an agent is refused (API, admin, stack import); a row forced into the
database past validation is refused at run time, and the listener never hears the value.
"""

from __future__ import annotations

import json

import pytest

from agents.models import Agent
from conversations.models import DecisionEvent
from tests.guardrails.support import say, start
from tests.runtimes.support import API_KEY, KEY_ENV, FakeServer, Respond, completion, lend_key

pytestmark = pytest.mark.django_db

# What the server's own settings hold in the attack (the values the listener must never see).
SERVER_SETTINGS = {
    "SECRET_KEY": "django-secret-key-the-tenant-must-never-see-0123456789",
    "DATABASE_URL": "postgres://app:db-password-never-sent@db.internal:5432/backoffice",
    "REDIS_URL": "redis://:redis-password-never-sent@redis.internal:6379/0",
    "SECRETS_KEYS": "c2VjcmV0cy1rZXlzLW5ldmVyLXNlbnQtMDEyMzQ1Njc=",
    "GLOBEX_OPENAI_KEY": "sk-another-tenants-key-never-sent",
}


@pytest.fixture
def listener():
    """The tenant's own host: answers like an LLM endpoint (so a leak would even 'work') and
    records every request it receives, headers and body."""
    with FakeServer(default=lambda seen: Respond(body=completion("thanks for the key"))) as server:
        yield server


@pytest.fixture
def server_environment(monkeypatch, settings):
    """The process environment of a production server, reachable loopback for the listener."""
    for name, value in SERVER_SETTINGS.items():
        monkeypatch.setenv(name, value)
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True  # the listener is on loopback


def heard(listener) -> str:
    """Everything the listener received, as one text."""
    return "\n".join(
        json.dumps(seen.headers) + "\n" + seen.raw.decode("utf-8", "replace")
        for seen in listener.seen
    )


def openai_runtime(listener, **extra) -> dict:
    return {"type": "openai", "baseUrl": listener.url + "/v1", "model": "m", **extra}


@pytest.mark.parametrize("name", sorted(SERVER_SETTINGS))
def test_an_api_key_cannot_name_a_server_setting_as_apiKeyEnv(
    key_client, listener, server_environment, name
):
    response = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-thief",
            "name": "Thief",
            "role": "specialist",
            "runtime": openai_runtime(listener, apiKeyEnv=name),
        },
        format="json",
    )

    assert response.status_code == 400
    problem = response.json()["error"]["fields"]["runtime.apiKeyEnv"][0]
    assert "RUNTIME_KEY_ENVS" in problem
    assert SERVER_SETTINGS[name] not in response.content.decode()
    assert not Agent.objects.exists()
    assert listener.seen == []


def test_a_manager_cannot_switch_an_agent_to_a_server_setting(
    manager_client, tenant, listener, server_environment
):
    Agent.objects.create(tenant=tenant, slug="agent-llm", name="LLM", role="specialist")

    response = manager_client.patch(
        "/api/v1/agents/agent-llm",
        {"runtime": openai_runtime(listener, apiKeyEnv="DATABASE_URL")},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "runtime.apiKeyEnv" in response.json()["error"]["fields"]
    assert Agent.objects.get().runtime == "builtin"


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL"])
def test_the_admin_refuses_a_server_setting_as_apiKeyEnv(
    manager_client, listener, server_environment, name
):
    response = manager_client.post(
        "/admin/agents/agent/add/",
        {
            "slug": "agent-thief",
            "name": "Thief",
            "role": "specialist",
            "supervisor": "",
            "domains": "",
            "pattern": "handoff",
            "runtime": "openai",
            "runtime_config": json.dumps(
                {"baseUrl": listener.url + "/v1", "model": "m", "apiKeyEnv": name}
            ),
            "runtime_secret_input": "",
            "prompt": "",
            "knowledge-TOTAL_FORMS": "0",
            "knowledge-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["runtime_config"]
    assert any("apiKeyEnv: must name a variable the operator lends" in e for e in errors)
    assert not Agent.objects.exists()
    assert listener.seen == []


def test_a_stack_import_naming_a_server_setting_is_refused_at_its_path(
    key_client, listener, server_environment
):
    document = {
        "format": "stack-template",
        "version": 1,
        "name": "Thieves",
        "agents": [
            {
                "id": "agent-sup",
                "name": "Sup",
                "role": "supervisor",
                "runtime": openai_runtime(listener, apiKeyEnv="SECRET_KEY"),
            }
        ],
    }

    response = key_client.post("/api/v1/stacks/import", {"template": document}, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "RUNTIME_KEY_ENVS" in fields["template.agents[0].runtime.apiKeyEnv"][0]
    assert not Agent.objects.exists()


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "GLOBEX_OPENAI_KEY"])
def test_a_row_forced_past_validation_never_sends_the_setting(
    tenant, key_client, listener, server_environment, name
):
    # written straight into the database, as an old row or a bypassed check would be
    Agent.objects.create(
        tenant=tenant,
        slug="agent-thief",
        name="Thief",
        role="specialist",
        runtime="openai",
        runtime_config={"baseUrl": listener.url + "/v1", "model": "m", "apiKeyEnv": name},
    )
    conversation = start(key_client, "agent-thief")

    answer = say(key_client, conversation, "Hello")

    assert listener.seen == []
    assert answer["reply"] is None
    (error,) = DecisionEvent.objects.filter(conversation_id=conversation, type="agent.error")
    assert "is not a variable the operator lends to runtimes" in error.detail["error"]
    recorded = json.dumps([e.detail for e in DecisionEvent.objects.all()])
    for value in SERVER_SETTINGS.values():
        assert value not in recorded


def test_only_the_variables_the_operator_lends_are_sent(
    tenant, key_client, listener, server_environment, settings
):
    # the control: a lent variable does reach the endpoint, so the refusals above are real
    lend_key(settings, API_KEY, listener.url)
    created = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-llm",
            "name": "LLM",
            "role": "specialist",
            "runtime": openai_runtime(listener, apiKeyEnv=KEY_ENV),
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["runtime"]["hasApiKey"] is False

    say(key_client, start(key_client, "agent-llm"), "Hello")

    assert [seen.headers["Authorization"] for seen in listener.seen] == [f"Bearer {API_KEY}"]
    for value in SERVER_SETTINGS.values():
        assert value not in heard(listener)


def test_a_lent_key_is_never_sent_to_another_origin(
    tenant, key_client, listener, server_environment, settings
):
    # the operator lends its OpenAI key for api.openai.com; a tenant points baseUrl elsewhere
    lend_key(settings, "sk-operator-key-never-sent", "https://api.openai.com", name="OPENAI_KEY")
    refused = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-thief",
            "name": "Thief",
            "role": "specialist",
            "runtime": openai_runtime(listener, apiKeyEnv="OPENAI_KEY"),
        },
        format="json",
    )
    Agent.objects.create(  # and a row forced past that check
        tenant=tenant,
        slug="agent-forced",
        name="Forced",
        role="specialist",
        runtime="openai",
        runtime_config={"baseUrl": listener.url + "/v1", "model": "m", "apiKeyEnv": "OPENAI_KEY"},
    )
    conversation = start(key_client, "agent-forced")
    say(key_client, conversation, "Hello")

    assert refused.status_code == 400
    problem = refused.json()["error"]["fields"]["runtime.apiKeyEnv"][0]
    assert problem.startswith("OPENAI_KEY is lent for https://api.openai.com:443 only")
    assert listener.seen == []
    (error,) = DecisionEvent.objects.filter(conversation_id=conversation, type="agent.error")
    assert "is lent for https://api.openai.com:443 only" in error.detail["error"]
    assert "sk-operator-key-never-sent" not in json.dumps(error.detail)


def test_the_lent_variables_are_read_once_by_the_settings(settings, monkeypatch, listener):
    # the runtime reads RUNTIME_KEYS_FROM_ENV, never the environment: changing the process
    # environment afterwards changes nothing
    from agents.runtimes import run_agent
    from tests.runtimes.support import FAST, make_agent, make_context

    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    lend_key(settings, API_KEY, listener.url)
    monkeypatch.setenv(KEY_ENV, "sk-changed-in-the-environment-later")
    agent = make_agent(
        runtime="openai",
        runtime_config={"baseUrl": listener.url + "/v1", "model": "m", "apiKeyEnv": KEY_ENV},
        knowledge=(),
    )

    run_agent(make_context("Hello", agent=agent), http_policy=FAST)

    assert listener.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
