"""The agent's turn under faults, with the product's real processes (uvicorn, a threads-pool
Celery worker for the turns) and a local OpenAI-compatible endpoint that misbehaves: it hangs,
answers 500, or is not there; a worker is killed in the middle of an agent's run; a person
claims the conversation while the agent is thinking. Every time the customer's message is
answered at once, the turn ends within bounds, the customer is told, nothing is sent twice,
and the conversation is never stuck."""

from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest
import requests
from django.db import transaction

from agents.models import Agent
from conversations.lifecycle import conversation_transition
from conversations.models import Conversation, DecisionEvent, Message
from conversations.services import conversation_start
from core.models import BusinessHours
from core.secret_store import seal
from core.services import api_key_create, personal_token_create
from handover.models import Handoff
from handover.services import hand_over
from insight.admin import event_summary
from orchestration.turns import AGENT_FAILED_TEXT
from tests.factories import TenantFactory, make_person
from tests.faults.conftest import WAIT, app_env, wait_until
from tests.runtimes.support import API_KEY, FakeServer, Respond, completion, openai_check

pytestmark = pytest.mark.services

ANSWER = "Your invoice is under Account > Billing."


@pytest.fixture
def llm():
    """The agents' endpoint: answers ANSWER unless the test plans otherwise."""
    with FakeServer(default=lambda seen: Respond(body=completion(ANSWER)), check=openai_check) as s:
        yield s


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tenant_with_agent(slug: str, base_url: str):
    tenant = TenantFactory(slug=slug, name=slug.title())
    for weekday in range(7):
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    agent = Agent.objects.create(
        tenant=tenant,
        slug="agent-llm",
        name="Assistant",
        runtime="openai",
        runtime_config={"baseUrl": base_url + "/v1", "model": "test-model"},
        runtime_secret=seal(API_KEY),
    )
    _, raw_key = api_key_create(tenant=tenant, name="faults")
    return tenant, agent, raw_key


def new_conversation(tenant, agent) -> Conversation:
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "c-1", "name": "Kim"}
    )
    conversation_transition(conversation=conversation, to="active", reason="test")
    return conversation


def say(base: str, key: str, conversation: Conversation, text: str) -> dict:
    response = requests.post(
        f"{base}/api/v1/conversations/{conversation.pk}/messages",
        json={"text": text},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,  # answered at once, whatever the agent's endpoint does
    )
    assert response.status_code == 201, response.text
    return response.json()


def turn_over(conversation: Conversation, ai_turn: int):
    def check():
        row = Conversation.objects.get(pk=conversation.pk)
        return row if str(ai_turn) in (row.ai_turn_detail.get("outcomes") or {}) else None

    return check


def texts(conversation: Conversation, role: str | None = None) -> list[str]:
    messages = Message.objects.filter(conversation=conversation).order_by("id")
    if role:
        messages = messages.filter(role=role)
    return list(messages.values_list("text", flat=True))


def test_an_endpoint_that_hangs_fails_or_is_not_there_is_bounded_and_the_customer_told(
    processes, redis_server, llm
):
    llm.then(*[Respond(status=500, body={"error": "boom"})] * 50)
    hanging = FakeServer(default=lambda seen: Respond(body=completion("late"), sleep=30))
    hanging.__enter__()
    try:
        cases = {
            "hangs": tenant_with_agent("hangs", hanging.url),
            "fails": tenant_with_agent("fails", llm.url),
            "absent": tenant_with_agent("absent", f"http://127.0.0.1:{unused_port()}"),
        }
        env = app_env(
            redis_url=redis_server.url,
            RUNTIME_ALLOW_PRIVATE_NETWORKS="1",
            AGENT_HTTP_READ_TIMEOUT="1",
            AGENT_HTTP_CONNECT_TIMEOUT="1",
            AGENT_HTTP_ATTEMPTS="2",
        )
        base = processes.web(env)
        processes.turns_worker(env)
        conversations = {name: new_conversation(t, a) for name, (t, a, _) in cases.items()}

        for name, (_, _, key) in cases.items():
            said = say(base, key, conversations[name], "Where is my invoice?")
            assert said["replyStatus"] == "pending" and said["reply"] is None, name

        for name, conversation in conversations.items():
            row = wait_until(turn_over(conversation, 1), what=f"the turn that {name} to end")
            assert row.ai_turn_at is None and row.state == "active", name
            assert texts(conversation, "system")[-1] == AGENT_FAILED_TEXT, name
            assert texts(conversation, "agent") == [], name
            error = DecisionEvent.objects.get(conversation=conversation, type="agent.error")
            assert error.detail["error"], name

        # not stuck: the next message is taken, and a second failure hands over to people
        for name, (_, _, key) in cases.items():
            say(base, key, conversations[name], "Hello? Are you there?")
        for name, conversation in conversations.items():
            row = wait_until(turn_over(conversation, 2), what=f"the second turn that {name}")
            assert row.state == "handing_off", name
            assert Handoff.objects.filter(conversation=conversation).count() == 1, name
    finally:
        hanging.__exit__()


def test_a_worker_killed_during_an_agent_run_completes_the_turn_once(processes, redis_server, llm):
    started = threading.Event()

    def slow_first(seen):
        started.set()
        return Respond(body=completion(ANSWER), sleep=5)

    llm.then(slow_first)
    tenant, agent, key = tenant_with_agent("acme", llm.url)
    conversation = new_conversation(tenant, agent)
    env = app_env(
        redis_url=redis_server.url,
        RUNTIME_ALLOW_PRIVATE_NETWORKS="1",
        # the broker gives an unacknowledged task to another worker after 3 s
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_UNACKED_RESTORE_INTERVAL="1",
    )
    base = processes.web(env)
    first = processes.turns_worker(env)

    said = say(base, key, conversation, "Where is my invoice?")
    assert said["replyStatus"] == "pending"
    assert started.wait(WAIT), "the agent's run never reached the endpoint"
    processes.kill(first)  # SIGKILL, in the middle of the agent's run
    processes.turns_worker(env)

    wait_until(turn_over(conversation, 1), what="the turn to complete on the new worker")
    assert texts(conversation, "agent") == [ANSWER]  # exactly one reply
    assert (
        DecisionEvent.objects.filter(conversation=conversation, type="agent.replied").count() == 1
    )
    assert not DecisionEvent.objects.filter(conversation=conversation, type="turn.dropped")
    assert len(llm.seen) >= 2  # the run was made again


def test_a_person_claiming_while_the_agent_thinks_stops_the_late_reply(
    processes, redis_server, llm
):
    started = threading.Event()

    def slow(seen):
        started.set()
        return Respond(body=completion(ANSWER), sleep=4)

    llm.then(slow)
    tenant, agent, key = tenant_with_agent("acme", llm.url)
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    _, ada_token = personal_token_create(user=ada, name="faults")
    conversation = new_conversation(tenant, agent)
    env = app_env(redis_url=redis_server.url, RUNTIME_ALLOW_PRIVATE_NETWORKS="1")
    base = processes.web(env)
    processes.turns_worker(env)

    said = say(base, key, conversation, "Where is my invoice?")
    assert said["replyStatus"] == "pending"
    assert started.wait(WAIT)
    # while the agent is thinking, the conversation goes to people and Ada claims it
    with transaction.atomic():
        hand_over(
            conversation=Conversation.objects.select_for_update().get(pk=conversation.pk),
            reason="a supervisor takes it",
        )
    handoff = Handoff.objects.get(conversation=conversation)
    claimed = requests.post(
        f"{base}/api/v1/handoffs/{handoff.pk}/claim",
        headers={"Authorization": f"Bearer {ada_token}"},
        timeout=10,
    )
    assert claimed.status_code == 200, claimed.text

    wait_until(turn_over(conversation, 1), what="the agent's late outcome")
    assert ANSWER not in texts(conversation)  # the late reply is not sent
    drop = DecisionEvent.objects.get(conversation=conversation, type="turn.dropped")
    assert drop.detail["reason"] == "a person claimed it"
    assert "a person claimed it" in event_summary(drop)  # what the timeline says
    assert Conversation.objects.get(pk=conversation.pk).state == "with_human"
