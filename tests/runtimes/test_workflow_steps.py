"""A workflow step on each runtime (issue 18, point 5): the inputs it names reach the runtime
and the outputs it declares come back (built-in: the knowledge entry's outputs; openai: a
structured-output tool; webhook: ``outputs``)."""

from __future__ import annotations

import pytest

from agents.runtime_config import secret_problem
from agents.runtimes import KnowledgeItem, StepCall, run_agent
from agents.runtimes.openai import OUTPUTS_TOOL
from tests.runtimes.support import (
    FAST,
    KEY_ENV,
    Respond,
    completion,
    make_agent,
    make_context,
    sealed,
    tool_call,
)

STEP = StepCall(
    workflow="Support Escalation",
    step=1,
    inputs={"context": {"transcript": [], "customer": {"id": "c-1"}, "signals": {}}},
    outputs=("category", "priority"),
)


def test_the_builtin_runtime_sets_the_matched_entrys_outputs():
    agent = make_agent(
        knowledge=(
            KnowledgeItem(
                question="Is the service down?",
                keywords=("outage", "down"),
                answer="We are looking into it.",
                outputs={"priority": "critical", "category": "technical"},
            ),
            KnowledgeItem(question="Invoice?", keywords=("invoice",), answer="Under Billing."),
        )
    )

    outage = run_agent(make_context("Is there an outage?", agent=agent, step=STEP))
    invoice = run_agent(make_context("Where is my invoice?", agent=agent, step=STEP))

    assert outage.outputs["priority"] == "critical"
    assert outage.outputs["category"] == "technical"
    assert outage.outputs["answered"] is True
    assert "priority" not in invoice.outputs


def test_the_openai_runtime_offers_the_outputs_tool_and_reads_its_call(llm, llm_key):
    llm.then(
        Respond(
            body=completion(
                "I have passed this on.",
                tool_calls=[tool_call(OUTPUTS_TOOL, {"category": "technical", "priority": "high"})],
            )
        )
    )
    agent = make_agent(
        runtime="openai",
        runtime_config={"baseUrl": llm.url + "/v1", "model": "m", "apiKeyEnv": KEY_ENV},
        knowledge=(),
    )

    reply = run_agent(make_context("The router is down", agent=agent, step=STEP), http_policy=FAST)

    assert reply.error is None
    assert reply.outputs["category"] == "technical" and reply.outputs["priority"] == "high"
    assert reply.proposed_actions == []  # the outputs tool is not an action
    (seen,) = llm.seen
    offered = {t["function"]["name"]: t["function"] for t in seen.json["tools"]}
    assert offered[OUTPUTS_TOOL]["parameters"]["required"] == ["category", "priority"]
    assert offered[OUTPUTS_TOOL]["parameters"]["additionalProperties"] is False
    system = seen.json["messages"][0]["content"]
    assert 'step 1 of the workflow "Support Escalation"' in system
    assert '"customer": {"id": "c-1"}' in system


def test_the_openai_runtime_drops_malformed_outputs_and_says_why(llm, llm_key):
    llm.then(
        Respond(
            body=completion("ok", tool_calls=[tool_call(OUTPUTS_TOOL, {"category": ["a", "b"]})])
        )
    )
    agent = make_agent(
        runtime="openai",
        runtime_config={"baseUrl": llm.url + "/v1", "model": "m", "apiKeyEnv": KEY_ENV},
        knowledge=(),
    )

    reply = run_agent(make_context("hi", agent=agent, step=STEP), http_policy=FAST)

    assert reply.detail["droppedOutputs"] == "category must be text, a number, true/false or null"
    assert "priority" not in reply.outputs


def test_without_a_step_no_outputs_tool_is_offered(llm, llm_key):
    agent = make_agent(
        runtime="openai",
        runtime_config={"baseUrl": llm.url + "/v1", "model": "m", "apiKeyEnv": KEY_ENV},
        knowledge=(),
    )

    run_agent(make_context("hi", agent=agent), http_policy=FAST)

    assert OUTPUTS_TOOL not in {t["function"]["name"] for t in llm.seen[0].json.get("tools", [])}


def test_the_webhook_gets_the_step_and_its_outputs_come_back(hook):
    hook.then(Respond(body={"reply": None, "outputs": {"category": "technical", "x": 1}}))
    agent = make_agent(
        runtime="webhook",
        runtime_config={"url": hook.url + "/agent"},
        runtime_secret=sealed("webhook-secret-0123456789"),
        knowledge=(),
    )

    reply = run_agent(make_context("router down", agent=agent, step=STEP), http_policy=FAST)

    assert hook.seen[0].json["workflow"] == {
        "name": "Support Escalation",
        "step": 1,
        "inputs": STEP.inputs,
        "outputs": ["category", "priority"],
    }
    assert reply.outputs["category"] == "technical"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("whsec_not base64!!", "whsec_ followed by base64"),
        ("whsec_" + "QUFB" * 4, "must be 24 to 64 bytes (this one has 12)"),
        ("short", "at least 16 characters"),
    ],
)
def test_a_malformed_webhook_secret_is_refused_on_save(secret, problem):
    assert problem in secret_problem("webhook", secret)


def test_a_whsec_secret_and_a_long_text_secret_are_accepted():
    assert secret_problem("webhook", "whsec_" + "QUFB" * 8) is None
    assert secret_problem("webhook", "any text of sixteen+ chars") is None


@pytest.mark.django_db
def test_knowledge_outputs_go_through_the_agents_api(key_client):
    entry = {
        "question": "Is the service down?",
        "keywords": ["outage"],
        "answer": "We are on it.",
        "outputs": {"priority": "critical"},
    }
    created = key_client.post(
        "/api/v1/agents",
        {"id": "triage", "name": "Triage", "role": "specialist", "knowledge": [entry]},
        format="json",
    )
    bad = key_client.post(
        "/api/v1/agents",
        {
            "id": "triage2",
            "name": "Triage",
            "role": "specialist",
            "knowledge": [{**entry, "outputs": {"1bad": "x"}}],
        },
        format="json",
    )

    assert created.status_code == 201, created.json()
    assert created.json()["knowledge"][0]["outputs"] == {"priority": "critical"}
    assert bad.status_code == 400
    assert "knowledge[0].outputs" in bad.json()["error"]["fields"]
