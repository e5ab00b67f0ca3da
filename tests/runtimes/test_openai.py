"""The OpenAI-compatible runtime against a real local chat-completions server."""

from __future__ import annotations

import pytest

from agents.action_registry import action_names
from agents.runtimes import ProposedAction, run_agent
from agents.runtimes.openai import DEFAULT_PROMPT
from tests.runtimes.support import (
    API_KEY,
    FAST,
    KEY_ENV,
    Respond,
    completion,
    lend_key,
    make_agent,
    make_context,
    tool_call,
)


def openai_context(server, message="Where is my refund?", config=None, **changes):
    runtime_config = {"baseUrl": server.url + "/v1", "model": "test-model", "apiKeyEnv": KEY_ENV}
    runtime_config.update(config or {})
    agent = make_agent(
        runtime="openai",
        runtime_config=runtime_config,
        knowledge=(),
        prompt=changes.pop("prompt", ""),
    )
    return make_context(message, agent=agent, **changes)


def test_the_models_content_is_the_reply(llm, llm_key):
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error is None
    assert reply.text == "Hello from test-model"
    assert reply.answered is True
    assert reply.attempts == 1
    assert reply.proposed_actions == []
    assert reply.outputs["resolution"] == "Hello from test-model"
    assert reply.detail["status"] == 200
    assert reply.detail["model"] == "test-model-2024"  # as the server reports it
    assert reply.detail["usage"]["total_tokens"] == 15
    assert reply.duration_ms > 0


def test_the_request_carries_the_key_model_messages_and_one_tool_per_action(llm, llm_key):
    transcript = (
        {"role": "customer", "author": "Dana", "text": "Hi"},
        {"role": "agent", "author": "Front desk", "text": "Hello! How can I help?"},
        {"role": "system", "author": "", "text": "Transferred to Billing"},
        {"role": "human", "author": "Sam", "text": "Sam here."},
        {"role": "customer", "author": "Dana", "text": "   "},
    )
    run_agent(openai_context(llm, "Where is my refund?", transcript=transcript), http_policy=FAST)

    (seen,) = llm.seen
    body = seen.json
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert body["model"] == "test-model"
    assert [(m["role"], m["content"]) for m in body["messages"][1:]] == [
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
        ("system", "Transferred to Billing"),
        ("assistant", "Sam here."),
        ("user", "Where is my refund?"),
    ]
    assert sorted(t["function"]["name"] for t in body["tools"]) == action_names()
    refund = next(t["function"] for t in body["tools"] if t["function"]["name"] == "issue_refund")
    assert refund["parameters"]["required"] == ["orderId", "amount"]


def test_only_the_last_twenty_earlier_messages_are_sent(llm, llm_key):
    transcript = tuple({"role": "customer", "text": f"message {i}"} for i in range(25))
    run_agent(openai_context(llm, transcript=transcript), http_policy=FAST)

    messages = llm.seen[0].json["messages"]
    assert len(messages) == 1 + 20 + 1
    assert messages[1]["content"] == "message 5"


def test_the_system_prompt_names_the_tenant_and_holds_the_prompt_and_routing_instructions(
    llm, llm_key
):
    ctx = openai_context(
        llm,
        tenant_name="Globex",
        prompt="You answer billing questions for {{ TENANT_NAME }} customers.",
        routing_instructions="Customers of {{TENANT_NAME}} on the Gold plan go to Billing first.",
    )
    run_agent(ctx, http_policy=FAST)

    system = llm.seen[0].json["messages"][0]["content"]
    assert system.startswith("You are a customer-service agent of Globex")
    assert "You answer billing questions for Globex customers." in system
    assert "Customers of Globex on the Gold plan go to Billing first." in system
    assert "{{" not in system
    assert "TENANT_NAME" in DEFAULT_PROMPT


def test_a_supervisors_prompt_lists_its_specialists_with_their_domains(llm, llm_key):
    ctx = openai_context(
        llm,
        specialists=(
            {"agent": "agent-billing", "name": "Billing", "domains": ["billing", "refunds"]},
            {"agent": "agent-docs", "name": "Docs", "domains": ["extraction"]},
        ),
    )
    run_agent(ctx, http_policy=FAST)

    system = llm.seen[0].json["messages"][0]["content"]
    assert (
        "Your specialists and their domains:\n- Billing: billing, refunds\n- Docs: extraction"
        in system
    )


def test_a_sequential_supervisor_gives_the_model_its_specialists_answers(llm, llm_key):
    ctx = openai_context(
        llm, consultation=({"agent": "agent-billing", "text": "The refund left on May 2."},)
    )
    run_agent(ctx, http_policy=FAST)

    assert (
        "- agent-billing: The refund left on May 2." in llm.seen[0].json["messages"][0]["content"]
    )


def test_tool_calls_become_proposed_actions_and_invalid_ones_are_dropped(llm, llm_key):
    llm.then(
        Respond(
            body=completion(
                None,
                [
                    tool_call("issue_refund", {"orderId": "A-7", "amount": 20}, "call_1"),
                    tool_call("issue_refund", {"orderId": "A-7", "amount": -3}, "call_2"),
                    tool_call("launch_rockets", {}, "call_3"),
                    tool_call("modify_account", "{not json", "call_4"),
                    tool_call("access_sensitive_data", {"field": "iban"}, "call_5"),
                ],
            )
        )
    )
    reply = run_agent(openai_context(llm, "Refund order A-7 please"), http_policy=FAST)

    assert reply.error is None
    assert reply.text is None
    assert reply.answered is True
    assert reply.proposed_actions == [
        ProposedAction("issue_refund", {"orderId": "A-7", "amount": 20}),
        ProposedAction("access_sensitive_data", {"field": "iban"}),
    ]
    assert [c["id"] for c in reply.detail["toolCalls"]] == ["call_1", "call_5"]
    dropped = {d["name"]: d["error"] for d in reply.detail["droppedToolCalls"]}
    assert dropped == {
        "issue_refund": "amount: must be greater than 0",
        "launch_rockets": "is not a registered action",
        "modify_account": "arguments are not valid JSON",
    }


@pytest.mark.parametrize(
    "arguments", ['{"field": "\\ud800"}', '{"field": "a\\u0000"}', "[" * 100_000]
)
def test_tool_call_arguments_that_could_not_be_stored_are_dropped(llm, llm_key, arguments):
    llm.then(Respond(body=completion(None, [tool_call("access_sensitive_data", arguments, "c1")])))
    reply = run_agent(openai_context(llm, "My IBAN please"), http_policy=FAST)

    assert reply.error is None
    assert reply.proposed_actions == []
    dropped = reply.detail["droppedToolCalls"]
    assert dropped == [{"name": "access_sensitive_data", "error": "arguments are not valid JSON"}]


def test_content_and_a_tool_call_together(llm, llm_key):
    llm.then(
        Respond(
            body=completion(
                "I've asked for a refund of 20 EUR.",
                [tool_call("issue_refund", {"orderId": "A-7", "amount": 20, "currency": "EUR"})],
            )
        )
    )
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.text == "I've asked for a refund of 20 EUR."
    assert [a.name for a in reply.proposed_actions] == ["issue_refund"]


def test_an_empty_answer_is_not_answered(llm, llm_key):
    llm.then(Respond(body=completion("  ")))
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error is None
    assert reply.answered is False
    assert reply.text is None


def test_a_missing_key_variable_is_an_error_without_a_request(llm, settings):
    lend_key(settings, None, llm.url)
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error == f"the operator has not set {KEY_ENV}"
    assert reply.text is None
    assert reply.answered is False
    assert reply.attempts == 0
    assert llm.seen == []


def test_an_empty_key_variable_is_not_set_either(llm, settings):
    lend_key(settings, "  ", llm.url)
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error == f"the operator has not set {KEY_ENV}"


def test_the_orchestrator_model_is_used_when_the_agent_names_none(llm, llm_key):
    reply = run_agent(
        openai_context(llm, config={"model": ""}, model="gpt-fallback"), http_policy=FAST
    )

    assert llm.seen[0].json["model"] == "gpt-fallback"
    assert reply.text == "Hello from gpt-fallback"


def test_a_base_url_with_a_trailing_slash_works(llm, llm_key):
    reply = run_agent(openai_context(llm, config={"baseUrl": llm.url + "/v1/"}), http_policy=FAST)

    assert reply.error is None
    assert llm.seen[0].path == "/v1/chat/completions"


def test_server_errors_are_retried_until_it_answers(llm, llm_key):
    llm.then(Respond(500, {"error": {"message": "overloaded"}}), Respond(502, raw=b"Bad gateway"))
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error is None
    assert reply.text == "Hello from test-model"
    assert reply.attempts == 3
    assert len(llm.seen) == 3
    assert reply.detail["retried"] == ["HTTP 500: overloaded", "HTTP 502: Bad gateway"]


def test_rate_limits_are_retried(llm, llm_key):
    llm.then(Respond(429, {"error": {"message": "Rate limit reached"}}))
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error is None
    assert reply.attempts == 2


def test_server_errors_every_time_fail_after_three_attempts(llm, llm_key):
    llm.then(*[Respond(503, {"error": {"message": "down"}})] * 3)
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error == "HTTP 503: down (after 3 attempts)"
    assert reply.attempts == 3
    assert reply.text is None
    assert reply.answered is False
    assert reply.detail["status"] == 503


@pytest.mark.parametrize(
    ("config", "status", "message"),
    [
        ({"model": "test-model"}, 401, "Incorrect API key provided"),
        ({"baseUrl": "/v2"}, 404, "Unknown path /v2/chat/completions"),
    ],
)
def test_client_errors_are_not_retried(llm, settings, config, status, message):
    lend_key(settings, "sk-wrong" if status == 401 else API_KEY, llm.url)
    if "baseUrl" in config:
        config = {"baseUrl": llm.url + config["baseUrl"]}
    reply = run_agent(openai_context(llm, config=config), http_policy=FAST)

    assert reply.error == f"HTTP {status}: {message}"
    assert reply.attempts == 1
    assert len(llm.seen) == 1


def test_a_server_slower_than_the_read_timeout_fails_after_the_retries(llm, llm_key):
    llm.then(*[Respond(body=completion("too late"), sleep=0.6)] * 3)
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error == "timed out waiting for a reply (after 3 attempts)"
    assert reply.attempts == 3
    assert reply.answered is False
    assert len(llm.seen) == 3


def test_a_timeout_then_an_answer_succeeds(llm, llm_key):
    llm.then(Respond(body=completion("too late"), sleep=0.6))
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.text == "Hello from test-model"
    assert reply.attempts == 2


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (Respond(raw=b"<html>Gateway says hi</html>"), "response is not JSON: <html>Gateway"),
        (Respond(raw=b""), "response is not JSON: (empty body)"),
        (Respond(body=[1, 2]), "bad completion: the response is not a JSON object"),
        (Respond(body={"choices": []}), "bad completion: no choices"),
        (Respond(body={"object": "list"}), "bad completion: no choices"),
        (Respond(body={"choices": [{"text": "hi"}]}), "bad completion: choices[0].message"),
    ],
)
def test_garbage_from_the_endpoint_is_an_error(llm, llm_key, response, error):
    llm.then(response)
    reply = run_agent(openai_context(llm), http_policy=FAST)

    assert reply.error.startswith(error)
    assert reply.attempts == 1
    assert reply.text is None
    assert reply.answered is False


def test_the_key_is_never_in_the_reply(llm, llm_key):
    llm.then(Respond(500, {"error": {"message": "boom"}}))
    ok = run_agent(openai_context(llm), http_policy=FAST)
    llm.then(*[Respond(500, {"error": {"message": "boom"}})] * 3)
    failed = run_agent(openai_context(llm), http_policy=FAST)

    assert API_KEY not in repr(ok)
    assert API_KEY not in repr(failed)


def test_an_unreachable_endpoint_is_an_error_after_the_retries(llm_key, unused_port):
    agent = make_agent(
        runtime="openai",
        runtime_config={
            "baseUrl": f"http://127.0.0.1:{unused_port}/v1",
            "model": "m",
            "apiKeyEnv": KEY_ENV,
        },
    )
    reply = run_agent(make_context("hi", agent=agent), http_policy=FAST)

    assert reply.error == "connection failed (connection refused) (after 3 attempts)"
    assert reply.attempts == 3


# --- the customer's photos ------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


@pytest.fixture
def stored(settings, tmp_path):
    """A photo kept in the default storage, as a message's file is."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    settings.MEDIA_ROOT = str(tmp_path)
    name = default_storage.save("attachments/1/abc", ContentFile(PNG))
    return {"filename": "heel.png", "contentType": "image/png", "path": name}


def _last_user_content(server):
    (seen,) = server.seen
    return seen.json["messages"][-1]["content"]


def test_a_model_that_sees_images_gets_the_customers_photo(llm, llm_key, stored):
    import base64

    context = openai_context(llm, "It came broken", config={"images": True}, files=(stored,))

    reply = run_agent(context, http_policy=FAST)

    assert reply.error is None and reply.detail["images"] == 1
    text, image = _last_user_content(llm)
    assert text == {"type": "text", "text": "It came broken"}
    assert image == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }


def test_no_photo_leaves_unless_the_agent_says_so(llm, llm_key, stored):
    run_agent(openai_context(llm, "It came broken", files=(stored,)), http_policy=FAST)

    assert _last_user_content(llm) == "It came broken"


def test_a_photo_no_longer_stored_is_left_out_and_four_at_most_go(llm, llm_key, stored):
    gone = {**stored, "path": "attachments/1/deleted"}
    pdf = {**stored, "contentType": "application/pdf"}  # no image: never sent to the model
    context = openai_context(
        llm, "Look", config={"images": True}, files=(gone, pdf, *([stored] * 6))
    )

    reply = run_agent(context, http_policy=FAST)

    parts = _last_user_content(llm)
    assert [p["type"] for p in parts] == ["text", *["image_url"] * 4]
    assert reply.detail["images"] == 4
