"""The tenants' secret store: runtime API keys and webhook signing secrets are sealed at rest
(a raw read of the table shows no secret), write-only (no answer, page or history shows them),
never exported, never in events or logs, and their keys rotate."""

from __future__ import annotations

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.db import connection

from agents.models import Agent
from agents.services import agent_create
from conversations.models import DecisionEvent
from core.secret_store import (
    seal,
    unseal,
)
from stacks.models import StackTemplate
from tests.guardrails.support import say, start
from tests.runtimes.support import API_KEY, WEBHOOK_SECRET, Respond

pytestmark = pytest.mark.django_db

HOOK_SECRET = "whsec-never-shown-0123456789"
# the origin the operator lends OPENAI_API_KEY for by default (RUNTIME_KEY_ENVS)
OPENAI = {"type": "openai", "baseUrl": "https://api.openai.com/v1", "model": "gpt-4o-mini"}


@pytest.fixture(autouse=True)
def _loopback(settings):
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True  # the test endpoints listen on loopback


def openai_runtime(llm, **extra) -> dict:
    return {"type": "openai", "baseUrl": llm.url + "/v1", "model": "test-model", **extra}


def create(client, slug="agent-llm", runtime=None, role="specialist", **extra):
    response = client.post(
        "/api/v1/agents",
        {"id": slug, "name": slug.title(), "role": role, "runtime": runtime, **extra},
        format="json",
    )
    return response


def table_text() -> str:
    """Every column of every agent row, read with SQL past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM agents_agent")
        return json.dumps(cursor.fetchall(), default=str)


def test_a_stored_api_key_is_sent_and_never_read_back(key_client, llm):
    created = create(key_client, runtime=openai_runtime(llm, apiKey=API_KEY))

    assert created.status_code == 201, created.json()
    assert created.json()["runtime"] == {
        "type": "openai",
        "baseUrl": llm.url + "/v1",
        "model": "test-model",
        "hasApiKey": True,
    }
    for answer in (
        created,
        key_client.get("/api/v1/agents"),
        key_client.get("/api/v1/agents/agent-llm"),
    ):
        assert API_KEY not in answer.content.decode()
    reply = say(key_client, start(key_client, "agent-llm"), "Hello")
    assert reply["reply"]["text"] == "Hello from test-model"
    assert llm.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_the_stored_secrets_are_encrypted_in_the_database(key_client, llm, hook):
    assert create(key_client, runtime=openai_runtime(llm, apiKey=API_KEY)).status_code == 201
    hook_runtime = {"type": "webhook", "url": hook.url + "/agent", "secret": HOOK_SECRET}
    assert create(key_client, "agent-hook", runtime=hook_runtime).status_code == 201

    raw = table_text()

    assert API_KEY not in raw
    assert HOOK_SECRET not in raw
    tokens = dict(Agent.objects.values_list("slug", "runtime_secret"))
    assert all(token.startswith("gAAAAA") for token in tokens.values())  # Fernet tokens
    assert unseal(tokens["agent-llm"]) == API_KEY
    assert unseal(tokens["agent-hook"]) == HOOK_SECRET
    assert Agent.objects.get(slug="agent-hook").runtime_config == {"url": hook.url + "/agent"}


def test_a_change_without_the_key_keeps_it_and_a_new_one_replaces_it(key_client, llm):
    create(key_client, runtime=openai_runtime(llm, apiKey="sk-first-key"))

    kept = key_client.patch(
        "/api/v1/agents/agent-llm",
        {"runtime": openai_runtime(llm, model="other-model"), "name": "Renamed"},
        format="json",
    )
    assert kept.status_code == 200, kept.json()
    assert kept.json()["runtime"]["hasApiKey"] is True
    assert unseal(Agent.objects.get().runtime_secret) == "sk-first-key"

    replaced = key_client.patch(
        "/api/v1/agents/agent-llm",
        {"runtime": openai_runtime(llm, apiKey="sk-second-key")},
        format="json",
    )
    assert replaced.status_code == 200
    assert unseal(Agent.objects.get().runtime_secret) == "sk-second-key"

    lent = key_client.patch(
        "/api/v1/agents/agent-llm",
        {"runtime": {**OPENAI, "apiKeyEnv": "OPENAI_API_KEY"}},
        format="json",
    )
    assert lent.status_code == 200, lent.json()
    assert lent.json()["runtime"]["hasApiKey"] is False
    assert lent.json()["runtime"]["apiKeyEnv"] == "OPENAI_API_KEY"
    assert Agent.objects.get().runtime_secret == ""


def test_an_openai_agent_has_a_key_or_a_lent_variable_not_both_nor_neither(key_client, llm):
    both = create(key_client, runtime={**OPENAI, "apiKey": "sk-x", "apiKeyEnv": "OPENAI_API_KEY"})
    neither = create(key_client, runtime=openai_runtime(llm))

    assert both.status_code == 400
    assert both.json()["error"]["fields"]["runtime.apiKey"] == [
        "give the key (apiKey) or apiKeyEnv, not both"
    ]
    assert neither.status_code == 400
    assert neither.json()["error"]["fields"]["runtime.apiKey"][0].startswith("is required")
    assert not Agent.objects.exists()


def test_a_new_runtime_does_not_inherit_the_old_ones_secret(key_client, llm, hook):
    runtime = {"type": "webhook", "url": hook.url + "/agent", "secret": HOOK_SECRET}
    create(key_client, "agent-hook", runtime=runtime)

    switched = key_client.patch(
        "/api/v1/agents/agent-hook", {"runtime": openai_runtime(llm)}, format="json"
    )

    assert switched.status_code == 400
    assert "runtime.apiKey" in switched.json()["error"]["fields"]
    agent = Agent.objects.get()
    assert agent.runtime == "webhook"
    assert unseal(agent.runtime_secret) == HOOK_SECRET


@pytest.mark.parametrize(
    ("runtime", "field", "problem"),
    [
        ({"type": "webhook", "url": "https://h.example.com/", "secret": "short"}, "secret", "16"),
        ({"type": "openai", "apiKey": "sk with spaces"}, "apiKey", "printable ASCII"),
        ({"type": "openai", "apiKey": "   "}, "apiKey", "empty"),
        ({"type": "openai", "apiKey": "k" * 5000}, "apiKey", "at most 4096"),
        ({"type": "openai", "apiKey": 42}, "apiKey", "string"),
        ({"type": "builtin", "secret": "s" * 20}, "secret", "not a setting"),
    ],
)
def test_a_secret_that_cannot_be_one_is_a_400_at_its_field(key_client, runtime, field, problem):
    if runtime["type"] == "openai":
        runtime = {**runtime, "baseUrl": "https://llm.example.com/v1", "model": "m"}
    response = create(key_client, runtime=runtime)

    assert response.status_code == 400
    assert problem in response.json()["error"]["fields"][f"runtime.{field}"][0]
    assert not Agent.objects.exists()


def stack(client, llm, hook):
    assert (
        create(
            client, "agent-sup", role="supervisor", runtime=openai_runtime(llm, apiKey=API_KEY)
        ).status_code
        == 201
    )
    hook_runtime = {"type": "webhook", "url": hook.url + "/agent", "secret": HOOK_SECRET}
    answer = create(client, "agent-hook", runtime=hook_runtime, supervisorId="agent-sup")
    assert answer.status_code == 201, answer.json()


def test_secrets_are_never_exported_and_an_import_gives_its_own(key_client, llm, hook):
    stack(key_client, llm, hook)

    exported = key_client.get("/api/v1/agents/agent-sup/stack/export")

    text = exported.content.decode()
    assert API_KEY not in text and HOOK_SECRET not in text
    document = exported.json()
    runtimes = {a["id"]: a["runtime"] for a in document["agents"]}
    assert runtimes["agent-sup"] == openai_runtime(llm)
    assert runtimes["agent-hook"] == {"type": "webhook", "url": hook.url + "/agent"}

    missing = key_client.post(
        "/api/v1/stacks/import", {"template": document, "prefix": "eu"}, format="json"
    )
    assert missing.status_code == 400
    assert {"template.agents[0].runtime.apiKey", "template.agents[1].runtime.secret"} <= set(
        missing.json()["error"]["fields"]
    )

    document["agents"][0]["runtime"]["apiKey"] = "sk-imported-key"
    document["agents"][1]["runtime"]["secret"] = "whsec-imported-0123456789"
    imported = key_client.post(
        "/api/v1/stacks/import", {"template": document, "prefix": "eu"}, format="json"
    )
    assert imported.status_code == 201, imported.json()
    assert "sk-imported-key" not in imported.content.decode()
    assert unseal(Agent.objects.get(slug="eu-agent-sup").runtime_secret) == "sk-imported-key"
    assert (
        unseal(Agent.objects.get(slug="eu-agent-hook").runtime_secret)
        == "whsec-imported-0123456789"
    )
    assert "sk-imported-key" not in table_text()


def test_a_template_never_stores_a_secret(key_client, llm, hook):
    stack(key_client, llm, hook)
    document = key_client.get("/api/v1/agents/agent-sup/stack/export").json()
    document["agents"][0]["runtime"]["apiKey"] = "sk-in-a-template"

    refused = key_client.post(
        "/api/v1/stack-templates", {"name": "Leaky", "document": document}, format="json"
    )
    published = key_client.post(
        "/api/v1/stack-templates", {"name": "Ours", "agentId": "agent-sup"}, format="json"
    )

    assert refused.status_code == 400
    assert "document.agents[0].runtime.apiKey" in refused.json()["error"]["fields"]
    assert published.status_code == 201, published.json()
    (template,) = StackTemplate.objects.all()
    stored = json.dumps(template.document)
    assert API_KEY not in stored and HOOK_SECRET not in stored and "sk-in-a" not in stored


def test_keys_are_never_in_decision_events_or_logs(key_client, llm, hook, caplog):
    caplog.set_level(logging.DEBUG)
    stack(key_client, llm, hook)
    say(key_client, start(key_client, "agent-sup"), "Hello")
    hook.then(*[Respond(500, {"error": "down"})] * 3)  # and a failing turn
    say(key_client, start(key_client, "agent-hook"), "Where is my parcel?")

    events = json.dumps([e.detail for e in DecisionEvent.objects.all()])
    tokens = list(Agent.objects.values_list("runtime_secret", flat=True))
    assert "agent.error" in DecisionEvent.objects.values_list("type", flat=True)
    for secret in (API_KEY, HOOK_SECRET, *tokens):
        assert secret not in events
        assert secret not in caplog.text


def admin_form(**overrides) -> dict:
    data = {
        "slug": "agent-llm",
        "name": "LLM",
        "role": "specialist",
        "supervisor": "",
        "domains": "",
        "pattern": "handoff",
        "runtime": "openai",
        "runtime_config": json.dumps({"baseUrl": "https://llm.example.com/v1", "model": "m"}),
        "runtime_secret_input": "",
        "prompt": "",
        "knowledge-TOTAL_FORMS": "0",
        "knowledge-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_the_admin_takes_the_key_in_a_password_field_and_never_shows_it(manager_client):
    added = manager_client.post(
        "/admin/agents/agent/add/", admin_form(runtime_secret_input=API_KEY)
    )
    assert added.status_code == 302, added.content.decode()[:3000]
    agent = Agent.objects.get()
    assert unseal(agent.runtime_secret) == API_KEY
    token = agent.runtime_secret

    page = manager_client.get(f"/admin/agents/agent/{agent.pk}/change/").content.decode()
    assert 'type="password" name="runtime_secret_input"' in page
    assert "A secret is stored" in page
    assert API_KEY not in page and token not in page

    kept = manager_client.post(
        f"/admin/agents/agent/{agent.pk}/change/", admin_form(name="LLM two")
    )
    assert kept.status_code == 302, kept.content.decode()[:3000]
    agent.refresh_from_db()
    assert agent.name == "LLM two"
    assert agent.runtime_secret == token  # left empty: kept as it was

    manager_client.post(
        f"/admin/agents/agent/{agent.pk}/change/", admin_form(runtime_secret_input="sk-new-key")
    )
    agent.refresh_from_db()
    assert unseal(agent.runtime_secret) == "sk-new-key"
    history = manager_client.get(f"/admin/agents/agent/{agent.pk}/history/").content.decode()
    logged = json.dumps(list(LogEntry.objects.values_list("change_message", "object_repr")))
    for secret in (API_KEY, "sk-new-key", token, agent.runtime_secret):
        assert secret not in history
        assert secret not in logged
    assert "API key / signing secret" in logged  # the change is recorded by name only


def test_the_admin_refuses_a_secret_in_the_configuration_and_a_short_webhook_secret(
    manager_client,
):
    in_json = manager_client.post(
        "/admin/agents/agent/add/",
        admin_form(
            runtime_config=json.dumps(
                {"baseUrl": "https://llm.example.com/v1", "model": "m", "apiKey": API_KEY}
            )
        ),
    )
    short = manager_client.post(
        "/admin/agents/agent/add/",
        admin_form(
            runtime="webhook",
            runtime_config=json.dumps({"url": "https://hooks.example.com/a"}),
            runtime_secret_input="short",
        ),
    )
    missing = manager_client.post("/admin/agents/agent/add/", admin_form())

    assert "apiKey: put it in the “API key / signing secret” field" in str(
        in_json.context["adminform"].form.errors["runtime_config"]
    )
    assert short.context["adminform"].form.errors["runtime_secret_input"] == [
        "must be at least 16 characters"
    ]
    assert "apiKey: is required" in str(missing.context["adminform"].form.errors)
    assert not Agent.objects.exists()


@pytest.fixture
def two_keys(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_KEYS = [old]
    return settings, old, new


def test_keys_rotate_and_reseal_moves_every_secret_to_the_newest(tenant, two_keys):
    settings, old, new = two_keys
    agent = agent_create(
        tenant=tenant,
        slug="agent-hook",
        name="Hook",
        role="specialist",
        runtime="webhook",
        runtime_config={"url": "https://hooks.example.com/a"},
        runtime_secret=HOOK_SECRET,
    )
    under_old = agent.runtime_secret

    settings.SECRETS_KEYS = [new, old]  # the new key first: it seals, both unseal
    assert unseal(under_old) == HOOK_SECRET
    assert Fernet(new).decrypt(seal("fresh").encode()) == b"fresh"
    out = io.StringIO()
    call_command("reseal_secrets", stdout=out)
    assert "Re-encrypted 1 secret(s) under the newest key; 0 already were." in out.getvalue()

    agent.refresh_from_db()
    assert agent.runtime_secret != under_old
    settings.SECRETS_KEYS = [new]  # the old key removed
    assert unseal(agent.runtime_secret) == HOOK_SECRET
    again = io.StringIO()
    call_command("reseal_secrets", stdout=again)
    assert "Re-encrypted 0 secret(s) under the newest key; 1 already were." in again.getvalue()


def test_a_secret_no_key_decrypts_fails_cleanly(tenant, key_client, hook, two_keys):
    settings, _, new = two_keys
    Agent.objects.create(
        tenant=tenant,
        slug="agent-hook",
        name="Hook",
        role="specialist",
        runtime="webhook",
        runtime_config={"url": hook.url + "/agent"},
        runtime_secret=seal(WEBHOOK_SECRET),
    )
    settings.SECRETS_KEYS = [new]  # the old key removed before resealing

    with pytest.raises(CommandError, match=r"1 secret\(s\) cannot be decrypted .*agents.Agent"):
        call_command("reseal_secrets", stdout=io.StringIO())
    conversation = start(key_client, "agent-hook")
    answer = say(key_client, conversation, "Hello")

    assert answer["reply"] is None
    assert hook.seen == []
    (error,) = DecisionEvent.objects.filter(type="agent.error")
    assert error.detail["error"].startswith("the stored secret is unreadable")


@pytest.mark.parametrize("kind", [["openai"], {"type": "webhook"}, 7, None])
def test_a_runtime_type_that_is_no_name_is_a_400_on_import(key_client, kind):
    document = {
        "format": "stack-template",
        "version": 1,
        "name": "Odd",
        "agents": [
            {
                "id": "agent-sup",
                "name": "Sup",
                "role": "supervisor",
                "runtime": {"type": kind, "apiKey": "sk-x", "secret": "s" * 20},
            }
        ],
    }

    response = key_client.post("/api/v1/stacks/import", {"template": document}, format="json")

    assert response.status_code == 400
    assert "template.agents[0].runtime.type" in response.json()["error"]["fields"]
    assert not Agent.objects.exists()
