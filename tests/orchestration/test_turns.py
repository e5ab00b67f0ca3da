"""A customer message's turn in three phases: decide (one short transaction), run (the agent's
runtime, with no transaction open and no connection held), apply (one short transaction, only
if nothing moved). Stale outcomes are dropped with a ``turn.dropped`` event; a turn applies
once however often it runs; the sweep re-dispatches a lost turn once, then gives up."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent
from conversations.models import Conversation, DecisionEvent, Message
from conversations.services import conversation_start
from core.events import conversation_group
from core.models import OutboxEvent
from core.secret_store import seal
from handover.models import Handoff
from handover.services import hand_over, handoff_claim
from orchestration import turns
from orchestration.agent_runs import run_plan
from orchestration.pipeline import conversation_decide
from orchestration.turn import RUN_TURN_TASK, ReplyStatus
from orchestration.turns import AGENT_FAILED_TEXT, conversation_receive_message, execute
from tests.factories import make_person
from tests.runtimes.support import FakeServer, Respond

pytestmark = pytest.mark.django_db

ANSWER = "Your invoice is under Account > Billing."


@pytest.fixture
def billing(tenant):
    agent = Agent.objects.create(tenant=tenant, slug="agent-billing", name="Billing")
    agent.knowledge.create(question="Where is my invoice?", keywords=["invoice"], answer=ANSWER)
    return agent


@pytest.fixture
def conv(tenant, billing):
    conversation, _ = conversation_start(
        tenant=tenant, agent=billing, channel="web", customer={"id": "c-1", "name": "Kim"}
    )
    return conversation


@pytest.fixture
def outbox(settings):
    settings.TURN_DISPATCH = "outbox"


def agent_texts(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, role="agent").values_list(
            "text", flat=True
        )
    )


def dropped(conversation) -> list[dict]:
    return [
        e.detail
        for e in DecisionEvent.objects.filter(conversation=conversation, type="turn.dropped")
    ]


def run_turn_rows() -> list[OutboxEvent]:
    return [e for e in OutboxEvent.objects.order_by("id") if e.payload["task"] == RUN_TURN_TASK]


def test_decide_records_the_pending_turn_and_dispatches_its_run_through_the_outbox(conv, outbox):
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")

    assert result.reply_status == ReplyStatus.PENDING and result.reply is None
    conv.refresh_from_db()
    assert (conv.ai_turn, conv.ai_turn_message_id) == (1, result.message.pk)
    assert conv.ai_turn_at is not None
    (row,) = run_turn_rows()
    assert row.payload["args"] == [str(conv.pk), 1, result.message.pk]
    assert agent_texts(conv) == []

    applied = execute(conversation_id=conv.pk, ai_turn=1, message_id=result.message.pk)

    assert applied.reply_status == ReplyStatus.ANSWERED
    assert applied.reply.text == ANSWER
    conv.refresh_from_db()
    assert conv.ai_turn_at is None and conv.ai_turn_message_id is None
    assert conv.ai_turn_detail["outcomes"]["1"]["reply"] == applied.reply.pk


def test_running_a_turn_twice_applies_it_once(conv, outbox):
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")

    first = execute(conversation_id=conv.pk, ai_turn=1, message_id=result.message.pk)
    second = execute(conversation_id=conv.pk, ai_turn=1, message_id=result.message.pk)

    assert first.reply_status == ReplyStatus.ANSWERED
    assert second is None
    assert agent_texts(conv) == [ANSWER]
    assert DecisionEvent.objects.filter(conversation=conv, type="agent.replied").count() == 1
    assert dropped(conv) == []


def test_an_outcome_is_dropped_when_a_person_claimed_the_conversation_meanwhile(
    tenant, conv, outbox
):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")
    message, plan = turns._load(conv.pk, 1, result.message.pk)
    outcome = run_plan(plan)  # the agent is thinking...

    # ...while the conversation is handed over and a person claims it
    locked = Conversation.objects.select_for_update().get(pk=conv.pk)
    hand_over(conversation=locked, reason="test")
    handoff_claim(handoff=Handoff.objects.get(conversation=conv), user=ada)
    applied = turns.apply(conversation_id=conv.pk, ai_turn=1, message=message, outcome=outcome)

    assert applied.reply_status == ReplyStatus.DROPPED
    assert agent_texts(conv) == []  # the late reply is not sent
    (drop,) = dropped(conv)
    assert drop["reason"] == "a person claimed it"
    assert drop["reasonCode"] == "claimed" and drop["ran"] is True and drop["turn"] == 1


def test_an_outcome_is_dropped_when_people_took_over_and_handed_back_meanwhile(
    tenant, conv, outbox
):
    from handover.services import conversation_hand_back

    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")
    message, plan = turns._load(conv.pk, 1, result.message.pk)
    outcome = run_plan(plan)
    locked = Conversation.objects.select_for_update().get(pk=conv.pk)
    hand_over(conversation=locked, reason="test")
    handoff_claim(handoff=Handoff.objects.get(conversation=conv), user=ada)
    conversation_hand_back(conversation=Conversation.objects.get(pk=conv.pk), user=ada)
    assert Conversation.objects.get(pk=conv.pk).state == "active"

    applied = turns.apply(conversation_id=conv.pk, ai_turn=1, message=message, outcome=outcome)

    assert applied.reply_status == ReplyStatus.DROPPED
    assert agent_texts(conv) == []
    assert [d["reason"] for d in dropped(conv)] == ["a person claimed it"]


def test_a_newer_message_supersedes_a_pending_turn(conv, outbox):
    first = conversation_receive_message(conversation=conv, text="Where is my invoice?")
    second = conversation_receive_message(conversation=conv, text="Where is my invoice again?")

    stale = execute(conversation_id=conv.pk, ai_turn=1, message_id=first.message.pk)
    fresh = execute(conversation_id=conv.pk, ai_turn=2, message_id=second.message.pk)

    assert stale.reply_status == ReplyStatus.DROPPED
    assert fresh.reply_status == ReplyStatus.ANSWERED
    assert agent_texts(conv) == [ANSWER]
    (drop,) = dropped(conv)
    assert drop["reason"] == "a newer message" and drop["ran"] is False
    assert DecisionEvent.objects.get(type="turn.dropped").message_id == first.message.pk


def test_an_outcome_is_dropped_when_the_conversation_was_resolved(conv, outbox):
    from conversations.lifecycle import conversation_transition

    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")
    message, plan = turns._load(conv.pk, 1, result.message.pk)
    outcome = run_plan(plan)
    locked = Conversation.objects.select_for_update().get(pk=conv.pk)
    conversation_transition(conversation=locked, to="resolved", reason="test")

    applied = turns.apply(conversation_id=conv.pk, ai_turn=1, message=message, outcome=outcome)

    assert applied.reply_status == ReplyStatus.DROPPED
    assert [d["reason"] for d in dropped(conv)] == ["resolved"]
    assert agent_texts(conv) == []


def test_inline_dispatch_answers_in_the_result(conv):
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")

    assert result.reply_status == ReplyStatus.ANSWERED
    assert result.reply.text == ANSWER
    assert run_turn_rows() == []


def test_the_outbox_relay_runs_the_turn_after_commit(
    conv, outbox, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = conversation_receive_message(conversation=conv, text="Where is my invoice?")

    assert result.reply_status == ReplyStatus.PENDING
    assert agent_texts(conv) == [ANSWER]
    assert OutboxEvent.objects.get(pk=run_turn_rows()[0].pk).relayed_at is not None


def test_the_sockets_hear_the_agent_typing_then_the_reply(
    conv, outbox, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()

    async def listen():
        channel = await layer.new_channel()
        await layer.group_add(conversation_group(conv.pk), channel)
        return channel

    async def heard(channel, count):
        events = []
        while len(events) < count:
            event = (await asyncio.wait_for(layer.receive(channel), 5))["event"]
            if event["type"] in ("message.created", "agent.typing"):
                events.append(event)
        return events

    channel = async_to_sync(listen)()
    with django_capture_on_commit_callbacks(execute=True):
        result = conversation_decide(conversation=conv, text="Where is my invoice?")
    with django_capture_on_commit_callbacks(execute=True):
        execute(conversation_id=conv.pk, ai_turn=1, message_id=result.message.pk)
    events = async_to_sync(heard)(channel, 4)

    assert [(e["type"], e.get("typing")) for e in events] == [
        ("message.created", None),  # the customer's
        ("agent.typing", True),
        ("message.created", None),  # the reply
        ("agent.typing", False),
    ]
    assert events[1] == {
        "type": "agent.typing",
        "conversationId": str(conv.pk),
        "typing": True,
    }
    assert events[2]["message"]["text"] == ANSWER


def test_a_failing_runtime_tells_the_customer(tenant):
    agent = Agent.objects.create(
        tenant=tenant,
        slug="hook",
        name="Hook",
        runtime="webhook",
        runtime_config={"url": "http://127.0.0.1:9/unreachable"},
        runtime_secret=seal("s" * 20),
    )
    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "c-1"}
    )

    result = conversation_receive_message(conversation=conversation, text="hello")

    assert result.reply is None and result.reply_status == ReplyStatus.SILENT
    assert [m.text for m in result.notices] == [AGENT_FAILED_TEXT]
    assert result.conversation.state == "active"


def test_the_sweep_sends_a_lost_turn_again_once_then_tells_the_customer_and_hands_over(
    conv, outbox, settings
):
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")
    later = timezone.now() + dt.timedelta(seconds=settings.TURN_STALE_SECONDS + 1)

    assert turns.turn_sweep(now=timezone.now()) == 0  # not stale yet
    assert turns.turn_sweep(now=later) == 1
    assert len(run_turn_rows()) == 2  # sent again
    conv.refresh_from_db()
    assert conv.ai_turn_at is not None and conv.ai_turn_detail["dispatches"] == 2

    assert turns.turn_sweep(now=later + dt.timedelta(seconds=settings.TURN_STALE_SECONDS + 1))
    conv.refresh_from_db()
    assert conv.state == "handing_off" and conv.ai_turn_at is None
    texts = list(Message.objects.filter(conversation=conv).values_list("text", flat=True))
    assert AGENT_FAILED_TEXT in texts
    assert [d["reasonCode"] for d in dropped(conv)] == ["gave_up"]
    # the run that finally comes back applies nothing
    assert execute(conversation_id=conv.pk, ai_turn=1, message_id=result.message.pk) is None
    assert agent_texts(conv) == []


def test_decide_and_apply_each_cost_a_bounded_number_of_queries(conv, outbox):
    conversation_receive_message(conversation=conv, text="Hello")  # the config is cached now
    execute(conversation_id=conv.pk, ai_turn=1, message_id=Message.objects.last().pk)

    with CaptureQueriesContext(connection) as decided:
        result = conversation_decide(conversation=conv, text="Where is my invoice?")
    with CaptureQueriesContext(connection) as loaded:
        message, plan = turns._load(conv.pk, 2, result.message.pk)
    outcome = run_plan(plan)
    with CaptureQueriesContext(connection) as applied:
        turns.apply(conversation_id=conv.pk, ai_turn=2, message=message, outcome=outcome)

    assert len(decided) <= DECIDE_QUERIES, [q["sql"] for q in decided]
    assert len(loaded) <= LOAD_QUERIES, [q["sql"] for q in loaded]
    assert len(applied) <= APPLY_QUERIES, [q["sql"] for q in applied]
    # the tenant and the agent come from memory, not joined to the conversation's reads
    turn_reads = [q["sql"] for q in [*loaded, *applied] if q["sql"].startswith("SELECT")]
    assert turn_reads and not [sql for sql in turn_reads if " JOIN " in sql], turn_reads
    assert message.text == "Where is my invoice?" and plan is not None
    assert agent_texts(conv)[-1] == ANSWER


# savepoint, lock, transcript, the message, the outbox row, the events (one INSERT), the
# conversation, release
DECIDE_QUERIES = 8
# the conversation, the message, the transcript
LOAD_QUERIES = 3
# savepoint, lock, the reply, the events (one INSERT), the conversation, release
APPLY_QUERIES = 6


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_and_no_connection_held_while_the_agent_runs(tenant, settings):
    seen: list[tuple[bool, bool]] = []
    caller = connection  # the caller's connection (this thread's)

    def answer(_):
        seen.append((caller.in_atomic_block, caller.connection is not None))
        return Respond(body={"reply": "Hello from the hook"})

    with FakeServer(default=answer) as hook:
        agent = Agent.objects.create(
            tenant=tenant,
            slug="hook",
            name="Hook",
            runtime="webhook",
            runtime_config={"url": hook.url + "/agent"},
            runtime_secret=seal("s" * 20),
        )
        conversation, _ = conversation_start(
            tenant=tenant, agent=agent, channel="web", customer={"id": "c-1"}
        )
        result = conversation_receive_message(conversation=conversation, text="hello")

    assert result.reply.text == "Hello from the hook"
    assert seen == [(False, False)]  # no transaction, no connection while the endpoint worked


@pytest.mark.django_db(transaction=True)
def test_a_caller_waits_for_the_reply_without_holding_a_connection(tenant, billing):
    if connection.vendor != "postgresql":
        pytest.skip("two threads writing at once: SQLite's shared in-memory test database locks")
    conversation, _ = conversation_start(
        tenant=tenant, agent=billing, channel="web", customer={"id": "c-1"}
    )
    # decided only: no outbox row, nobody runs it but the "worker" below
    result = conversation_decide(conversation=conversation, text="Where is my invoice?")
    held = []

    def worker():
        from django.db import connections

        time.sleep(0.3)
        held.append(waiting.connection is not None)
        execute(conversation_id=conversation.pk, ai_turn=1, message_id=result.message.pk)
        connections.close_all()

    waiting = connection
    thread = threading.Thread(target=worker)
    thread.start()
    outcome = turns.turn_wait(conversation_id=conversation.pk, ai_turn=1, seconds=10)
    thread.join()

    assert outcome["status"] == "answered"
    assert Message.objects.get(pk=outcome["reply"]).text == ANSWER
    assert held == [False]  # the waiting caller held no connection while it waited


def test_without_wait_the_answer_comes_at_once_with_the_reply_pending(key_client, conv, outbox):
    response = key_client.post(
        f"/api/v1/conversations/{conv.pk}/messages",
        {"text": "Where is my invoice?", "wait": 0.2},
        format="json",
    )

    body = response.json()
    assert response.status_code == 201, body
    assert body["replyStatus"] == "pending" and body["reply"] is None
    assert body["message"]["text"] == "Where is my invoice?"


@pytest.mark.parametrize("wait", [-1, 31, "soon"])
def test_a_wait_outside_0_to_30_seconds_is_refused(key_client, conv, wait):
    response = key_client.post(
        f"/api/v1/conversations/{conv.pk}/messages",
        {"text": "Where is my invoice?", "wait": wait},
        format="json",
    )

    assert response.status_code == 400
    assert "wait" in str(response.json())
    assert not Message.objects.filter(conversation=conv).exists()


def test_another_tenant_cannot_post_to_a_conversation(other_tenant, conv):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=other_tenant)[1]}")
    response = client.post(
        f"/api/v1/conversations/{conv.pk}/messages", {"text": "hi", "wait": 1}, format="json"
    )

    assert response.status_code == 404


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_chat_socket_opened_while_the_agent_thinks_shows_it_typing(tenant, billing):
    from channels.db import database_sync_to_async as sync_to_async

    from config.asgi import application
    from tests.sockets import Socket

    conversation, token = await sync_to_async(conversation_start)(
        tenant=tenant, agent=billing, channel="web", customer={"id": "c-1"}
    )
    # decided only (inline dispatch writes no outbox row): the answer is pending
    result = await sync_to_async(conversation_decide)(
        conversation=conversation, text="Where is my invoice?"
    )
    customer = Socket(
        application,
        f"/ws/conversations/{conversation.pk}/?token={token}",
        headers=[(b"origin", b"http://localhost")],
    )
    connected, _ = await customer.connect()
    assert connected

    async def next_of(*kinds):
        while True:
            event = await customer.receive_json_from(timeout=5)
            if event["type"] in kinds:
                return event

    snapshot = await next_of("conversation.snapshot")
    assert snapshot["agentTyping"] is True
    await sync_to_async(execute)(
        conversation_id=conversation.pk, ai_turn=1, message_id=result.message.pk
    )
    assert (await next_of("message.created"))["message"]["text"] == ANSWER
    assert (await next_of("agent.typing"))["typing"] is False
    await customer.send_json_to({"type": "resync"})
    assert (await next_of("conversation.snapshot"))["agentTyping"] is False
    await customer.disconnect()


def test_the_ai_never_reads_a_colleagues_private_note(conv, outbox):
    """Issue 19, point 4: a note is for colleagues; the transcript the agent's run gets holds
    the other messages before the turn's, and no note."""
    from conversations.messages import message_post

    message_post(conversation=conv, role="system", text="Welcome to Acme.")
    message_post(conversation=conv, role="note", author="Ada", text="internal: VIP, be kind")
    result = conversation_receive_message(conversation=conv, text="Where is my invoice?")

    _, plan = turns._load(conv.pk, 1, result.message.pk)

    texts = [row["text"] for row in plan.context.transcript]
    assert "Welcome to Acme." in texts
    assert not any("internal" in text for text in texts)


def _sent_with_a_file(tenant, agent, text, name, content, kind):
    """A conversation with ``agent``, and the customer's message ``text`` with one file."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.attachments import attachment_take

    conversation, _ = conversation_start(
        tenant=tenant, agent=agent, channel="web", customer={"id": "c-1"}
    )
    taken = attachment_take(
        conversation=conversation,
        upload=SimpleUploadedFile(name, content, content_type=kind),
        sent_by="customer",
    )
    result = conversation_receive_message(conversation=conversation, text=text, files=[taken])
    return conversation, result


def test_an_agent_that_sees_images_gets_the_photo_the_customer_sent(tenant, settings, tmp_path):
    import base64

    from tests.runtimes.support import API_KEY, completion, openai_check

    settings.MEDIA_ROOT = str(tmp_path)
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    with FakeServer(
        default=lambda seen: Respond(body=completion("I can see the broken heel.")),
        check=openai_check,
    ) as llm:
        agent = Agent.objects.create(
            tenant=tenant,
            slug="agent-eyes",
            name="Eyes",
            runtime="openai",
            runtime_config={"baseUrl": llm.url + "/v1", "model": "m", "images": True},
            runtime_secret=seal(API_KEY),
        )
        _, result = _sent_with_a_file(
            tenant, agent, "It came like this", "heel.png", photo, "image/png"
        )

    assert result.reply.text == "I can see the broken heel."
    (seen,) = llm.seen
    text, image = seen.json["messages"][-1]["content"]
    assert text["text"] == "It came like this"
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(photo).decode()


def test_a_webhook_agent_gets_the_customers_files_by_their_signed_links(tenant, settings, tmp_path):
    from urllib.parse import urlparse

    from django.test import Client

    settings.MEDIA_ROOT = str(tmp_path)
    settings.SITE_URL = "https://support.acme.example"
    receipt = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"
    with FakeServer(
        default=lambda seen: Respond(body={"reply": "Thanks, got the receipt."})
    ) as hook:
        agent = Agent.objects.create(
            tenant=tenant,
            slug="hook",
            name="Hook",
            runtime="webhook",
            runtime_config={"url": hook.url + "/agent"},
            runtime_secret=seal("s" * 20),
        )
        conversation, _ = _sent_with_a_file(
            tenant, agent, "Here", "receipt.pdf", receipt, "application/pdf"
        )
        plain = conversation_receive_message(conversation=conversation, text="And again")

    first, second = hook.seen
    (sent,) = first.json["files"]
    assert (sent["filename"], sent["contentType"], sent["size"]) == (
        "receipt.pdf",
        "application/pdf",
        len(receipt),
    )
    link = urlparse(sent["url"])
    assert (link.scheme, link.netloc) == ("https", "support.acme.example")
    opened = Client().get(link.path)
    assert b"".join(opened.streaming_content) == receipt
    assert "files" not in second.json  # a message without files has none
    assert plain.reply.text == "Thanks, got the receipt."
