"""The webhook runtime against a real local endpoint that verifies the signature."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook

from agents.runtimes import ProposedAction, run_agent
from agents.runtimes.signing import legacy_signature, standard_signature, webhook_signing_key
from tests.runtimes.support import (
    FAST,
    WEBHOOK_SECRET,
    Respond,
    Seen,
    make_agent,
    make_context,
    sealed,
    verify_legacy_signature,
    verify_signature,
    whsec,
)


def webhook_context(server, message="Why was I charged twice?", secret=WEBHOOK_SECRET, **changes):
    agent = make_agent(
        runtime="webhook",
        runtime_config={"url": server.url + "/agent"},
        runtime_secret=sealed(secret),
        knowledge=(),
    )
    return make_context(message, agent=agent, **changes)


def test_the_endpoint_verifies_the_signature_and_its_reply_is_the_answer(hook):
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error is None
    assert reply.text == "Echo: Why was I charged twice?"
    assert reply.answered is True
    assert reply.attempts == 1
    assert reply.signals is None
    assert reply.proposed_actions == []
    assert reply.detail["status"] == 200
    assert reply.outputs == {"category": None, "resolution": reply.text, "answered": True}


def test_the_request_body_and_headers_follow_the_protocol(hook):
    ctx = webhook_context(
        hook,
        signals={"intent": "billing", "sentiment": -0.4, "risk": ("churn_risk",)},
        customer={
            "id": "c-9",
            "name": "Dana",
            "email": "d@example.com",
            "attributes": {"plan": "gold"},
            "verified": True,
        },
        transcript=(
            {"role": "customer", "author": "Dana", "text": "Hi"},
            {"role": "agent", "author": "Front desk", "text": "Hello!"},
        ),
    )
    run_agent(ctx, http_policy=FAST)

    (seen,) = hook.seen
    assert seen.path == "/agent"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["webhook-id"].startswith("msg_")
    assert seen.headers["webhook-timestamp"].isdigit()
    assert seen.headers["webhook-signature"] == standard_signature(
        WEBHOOK_SECRET.encode(),
        seen.headers["webhook-id"],
        seen.headers["webhook-timestamp"],
        seen.raw,
    )
    assert Webhook(whsec()).verify(seen.raw, seen.headers) == seen.json
    assert seen.json == {
        "conversation": {
            "id": "conv-1",
            "channel": "web",
            "customer": {
                "id": "c-9",
                "name": "Dana",
                "email": "d@example.com",
                "attributes": {"plan": "gold"},
                "verified": True,
            },
        },
        "agent": {"id": "agent-billing", "name": "Billing"},
        "message": "Why was I charged twice?",
        "signals": {"intent": "billing", "sentiment": -0.4, "risk": ["churn_risk"]},
        "transcript": [
            {"role": "customer", "author": "Dana", "text": "Hi"},
            {"role": "agent", "author": "Front desk", "text": "Hello!"},
        ],
    }


def test_a_wrong_secret_is_refused_by_the_endpoint_and_not_retried(hook):
    reply = run_agent(webhook_context(hook, secret="not-the-right-secret-at-all"), http_policy=FAST)

    assert reply.error == "HTTP 401: bad signature"
    assert reply.attempts == 1
    assert reply.text is None
    assert reply.answered is False


def test_a_tampered_body_fails_verification():
    body = json.dumps({"message": "refund 10"}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_signature(WEBHOOK_SECRET.encode(), "msg_1", timestamp, body),
    }

    assert verify_signature(Seen("/", headers, body))
    assert not verify_signature(Seen("/", headers, body.replace(b"10", b"99")))
    assert not verify_signature(Seen("/", {**headers, "webhook-id": "msg_2"}, body))


def test_a_whsec_secret_signs_with_its_decoded_key_and_the_library_verifies_it(hook):
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    assert webhook_signing_key(secret) == b"k" * 32
    hook.check = lambda seen: (
        None if verify_signature(seen, secret) else Respond(401, {"error": "bad signature"})
    )

    reply = run_agent(webhook_context(hook, secret=secret), http_policy=FAST)

    assert reply.error is None
    assert reply.text == "Echo: Why was I charged twice?"


def test_the_legacy_headers_come_only_while_the_setting_is_on(hook, settings):
    settings.WEBHOOK_LEGACY_SIGNATURE = True
    run_agent(webhook_context(hook), http_policy=FAST)
    settings.WEBHOOK_LEGACY_SIGNATURE = False
    run_agent(webhook_context(hook), http_policy=FAST)

    legacy, standard_only = hook.seen
    assert verify_legacy_signature(legacy)
    assert legacy.headers["X-Signature"] == legacy_signature(
        WEBHOOK_SECRET, legacy.headers["X-Timestamp"], legacy.raw
    )
    assert legacy.headers["X-Delivery-Id"] == legacy.headers["webhook-id"].removeprefix("msg_")
    assert verify_signature(legacy) and verify_signature(standard_only)
    assert not {"X-Signature", "X-Timestamp", "X-Delivery-Id"} & set(standard_only.headers)


def test_the_reply_signals_actions_and_outputs_come_back(hook):
    hook.then(
        Respond(
            body={
                "reply": "I've started a refund of 20 EUR.",
                "signals": {"intent": "refund", "sentiment": -0.5, "risk": ["churn_risk"]},
                "actions": [
                    {
                        "name": "issue_refund",
                        "params": {"orderId": "A-7", "amount": 20, "currency": "EUR"},
                    }
                ],
                "outputs": {"category": "billing", "ticket": "T-1"},
                "traceId": "abc",
            }
        )
    )
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error is None
    assert reply.text == "I've started a refund of 20 EUR."
    assert reply.answered is True
    assert reply.signals == {"intent": "refund", "sentiment": -0.5, "risk": ["churn_risk"]}
    assert reply.proposed_actions == [
        ProposedAction("issue_refund", {"orderId": "A-7", "amount": 20, "currency": "EUR"})
    ]
    assert reply.outputs == {
        "category": "billing",
        "resolution": "I've started a refund of 20 EUR.",
        "answered": True,
        "ticket": "T-1",
    }
    assert reply.detail["ignoredKeys"] == ["traceId"]


def test_a_null_reply_without_actions_is_not_answered(hook):
    hook.then(Respond(body={"reply": None, "signals": {"intent": None}}))
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error is None
    assert reply.text is None
    assert reply.answered is False
    assert reply.signals == {"intent": None}


def test_the_endpoint_may_say_it_did_not_answer(hook):
    hook.then(Respond(body={"reply": "Let me check with a colleague.", "answered": False}))
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.text == "Let me check with a colleague."
    assert reply.answered is False
    assert reply.outputs["resolution"] is None


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (Respond(body=["reply"]), "the response must be a JSON object"),
        (Respond(body={"answer": "hi"}), "reply is missing"),
        (Respond(body={"reply": 42}), "reply must be a string or null"),
        (Respond(body={"reply": "x", "answered": "yes"}), "answered must be true or false"),
        (Respond(body={"reply": "x", "signals": []}), "signals must be an object"),
        (Respond(body={"reply": "x", "signals": {"intent": 3}}), "signals.intent must be"),
        (Respond(body={"reply": "x", "signals": {"sentiment": 2}}), "signals.sentiment must be"),
        (Respond(body={"reply": "x", "signals": {"sentiment": "-0.5"}}), "signals.sentiment"),
        (Respond(body={"reply": "x", "signals": {"sentiment": True}}), "signals.sentiment"),
        (Respond(body={"reply": "x", "signals": {"risk": "churn_risk"}}), "signals.risk must be"),
        (
            Respond(body={"reply": "x", "signals": {"risk": ["churn_risk", 1]}}),
            "signals.risk[1] must be",
        ),
        (
            Respond(body={"reply": "x", "signals": {"risk": ["angry"]}}),
            "signals.risk[0]: 'angry' is not a risk category",
        ),
        (Respond(body={"reply": "x", "signals": {"intent": "x" * 101}}), "signals.intent must"),
        (
            Respond(body={"reply": "x", "actions": {"name": "issue_refund"}}),
            "actions must be a list",
        ),
        (Respond(body={"reply": "x", "actions": ["issue_refund"]}), "actions[0] must be an object"),
        (Respond(body={"reply": "x", "actions": [{"params": {}}]}), "actions[0].name must be"),
        (
            Respond(body={"reply": "x", "actions": [{"name": "launch_rockets"}]}),
            "actions[0].name: 'launch_rockets' is not a registered action",
        ),
        (
            Respond(body={"reply": "x", "actions": [{"name": "issue_refund", "params": []}]}),
            "actions[0].params must be an object",
        ),
        (
            Respond(
                body={
                    "reply": "x",
                    "actions": [
                        {"name": "access_sensitive_data", "params": {"field": "iban"}},
                        {"name": "issue_refund", "params": {"orderId": "A", "amount": 0}},
                    ],
                }
            ),
            "actions[1].params.amount: must be greater than 0",
        ),
        (Respond(body={"reply": "x", "outputs": ["a"]}), "outputs must be an object"),
    ],
)
def test_a_malformed_response_is_an_error_naming_the_field(hook, response, problem):
    hook.then(response)
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error.startswith("bad webhook response: ")
    assert problem in reply.error
    assert reply.text is None
    assert reply.answered is False
    assert reply.proposed_actions == []
    assert reply.attempts == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"OK", "response is not JSON: OK"),
        (b'{"reply": "x", "signals": {"sentiment": NaN}}', "response is not JSON"),
        (b"\xff\xfe", "response is not JSON"),
        # what PostgreSQL could not store, refused at the one JSON door (issue 15)
        (b'{"reply": "half a pair: \\ud800"}', "response JSON is refused: reply: contains a lone"),
        (b'{"reply": "nul: \\u0000"}', "response JSON is refused: reply: contains a NUL"),
        (b'{"reply": "x", "signals": {"sentiment": 1e400}}', "response is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "response JSON is refused: nested deeper than 64"),
    ],
)
def test_a_body_that_is_not_json_is_an_error(hook, raw, problem):
    hook.then(Respond(raw=raw))
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error.startswith(problem)


def test_server_errors_are_retried_each_time_signed_afresh_with_one_delivery_id(hook):
    hook.then(Respond(503, {"error": "busy"}), Respond(500, raw=b"oops"))
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error is None
    assert reply.text == "Echo: Why was I charged twice?"
    assert reply.attempts == 3
    assert len(hook.seen) == 3
    assert all(verify_signature(seen) for seen in hook.seen)
    assert len({seen.headers["webhook-id"] for seen in hook.seen}) == 1
    assert reply.detail["deliveryId"] == hook.seen[0].headers["webhook-id"]
    assert reply.detail["retried"] == ["HTTP 503: busy", "HTTP 500: oops"]


def test_an_endpoint_that_keeps_failing_is_an_error_after_three_attempts(hook):
    hook.then(*[Respond(500, {"error": "down"})] * 3)
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.error == "HTTP 500: down (after 3 attempts)"
    assert reply.attempts == 3
    assert reply.answered is False


def test_a_slow_endpoint_times_out_and_is_retried(hook):
    hook.then(Respond(body={"reply": "late"}, sleep=0.6))
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert reply.text == "Echo: Why was I charged twice?"
    assert reply.attempts == 2
    assert reply.detail["retried"] == ["timed out waiting for a reply"]


def test_the_secret_is_never_in_the_reply_or_the_body(hook):
    hook.then(Respond(401, {"error": "nope"}))
    reply = run_agent(webhook_context(hook), http_policy=FAST)

    assert WEBHOOK_SECRET not in repr(reply)
    assert WEBHOOK_SECRET.encode() not in hook.seen[0].raw


def test_a_sequential_supervisor_sends_its_consultation(hook):
    ctx = webhook_context(hook, consultation=({"agent": "agent-tech", "text": "Update the app."},))
    run_agent(ctx, http_policy=FAST)

    assert hook.seen[0].json["consultation"] == [{"agent": "agent-tech", "text": "Update the app."}]
