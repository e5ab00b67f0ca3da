"""The tools agents expect (issue 19, point 4), below the browser: private notes never reach the
customer or the AI, the per-agent status and limit that offers and claims respect (decided in
the database, two claims at once included), transfer to a colleague or back to the queue, and
canned replies through the API (tenants apart, roles from the permission table)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, MessageRevision, MessageRole, State
from core.errors import Invalid
from core.events import conversation_group, person_group, tenant_inbox_group
from handover.models import AgentSetting, AgentStatus, CannedReply, Handoff, Status
from handover.presence import available_agents
from handover.services import (
    AtCapacity,
    NotAllowed,
    NotTheClaimer,
    Unavailable,
    agent_status_set,
    conversation_requeue,
    conversation_transfer,
    deliver_offer,
    handoff_claim,
    note_post,
)
from tests.factories import make_person

pytestmark = pytest.mark.django_db

HUMAN_PLEASE = "I want to speak to a human please"


def as_person(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def handed_over(key_client, customer: str = "c-1") -> Handoff:
    response = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": customer, "name": customer}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    conversation_id = response.json()["id"]
    said = key_client.post(
        f"/api/v1/conversations/{conversation_id}/messages", {"text": HUMAN_PLEASE}, format="json"
    )
    assert said.json()["state"] == "handing_off", said.json()
    return Handoff.objects.get(conversation_id=conversation_id, status__in=["offered", "queued"])


class Listener:
    """A channel on the real layer, added to groups: what reached them."""

    def __init__(self, *groups: str):
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        self.groups = groups
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def events(self) -> list[dict]:
        got = []

        async def drain():
            import asyncio

            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), 0.3)
                except TimeoutError:
                    return
                got.append(message["event"])

        async_to_sync(drain)()
        return got


# --- private notes ------------------------------------------------------------------------------


def test_a_private_note_reaches_the_inbox_only_never_the_customer_nor_the_ai(
    key_client, team, online, ada, django_capture_on_commit_callbacks
):
    handoff = handed_over(key_client)
    conversation = handoff.conversation
    customer = Listener(conversation_group(conversation.pk))

    with django_capture_on_commit_callbacks(execute=True):
        note = note_post(conversation=conversation, user=ada, text="VIP: refund already sent")

    assert note.role == MessageRole.NOTE and note.author == "Ada"
    assert all(e.get("messageId") != note.pk for e in customer.events())
    transcript = key_client.get(f"/api/v1/conversations/{conversation.pk}/messages").json()
    assert note.pk not in [m["id"] for m in transcript]
    assert Message.objects.filter(pk=note.pk).exists()  # kept, for colleagues


def test_a_note_must_have_text_and_only_agents_of_the_tenant_write_one(
    key_client, team, online, ada, other_tenant
):
    conversation = handed_over(key_client).conversation
    stranger = make_person(tenant=other_tenant, roles=["agent"], username="eve")

    with pytest.raises(Invalid) as refused:
        note_post(conversation=conversation, user=ada, text="   ")
    assert list(refused.value.fields) == ["text"]
    with pytest.raises(NotAllowed):
        note_post(conversation=conversation, user=stranger, text="hello")


def test_the_author_edits_a_note_over_the_api_the_old_text_is_kept_and_only_the_inbox_hears(
    key_client, team, online, ada, bob, manager, django_capture_on_commit_callbacks
):
    conversation = handed_over(key_client).conversation
    note = note_post(conversation=conversation, user=ada, text="VIP: refund already sent")
    customer = Listener(conversation_group(conversation.pk))
    inbox = Listener(tenant_inbox_group(conversation.tenant_id))

    with django_capture_on_commit_callbacks(execute=True):
        edited = as_person(ada).patch(
            f"/api/v1/notes/{note.pk}", {"text": "VIP: refund sent on Monday"}, format="json"
        )

    assert edited.status_code == 200, edited.json()
    body = edited.json()
    assert body["text"] == "VIP: refund sent on Monday"
    assert body["editedAt"] and body["authorId"] == ada.pk
    assert list(MessageRevision.objects.filter(message=note).values_list("text", flat=True)) == [
        "VIP: refund already sent"
    ]
    updates = [e for e in inbox.events() if e.get("type") == "message.updated"]
    assert updates and updates[0]["message"]["text"] == "VIP: refund sent on Monday"
    assert all(e.get("messageId") != note.pk for e in customer.events())
    # the inbox's conversation read shows it edited
    page = as_person(ada).get(f"/inbox/conversations/{conversation.pk}/")
    assert page.status_code == 200
    shown = [m for m in page.json()["messages"] if m["id"] == note.pk]
    assert shown[0]["editedAt"] and shown[0]["text"] == "VIP: refund sent on Monday"


def test_only_the_author_edits_a_note_and_only_notes_are_edited(
    key_client, team, online, ada, bob, manager
):
    conversation = handed_over(key_client).conversation
    note = note_post(conversation=conversation, user=ada, text="VIP")
    customer_message = Message.objects.filter(
        conversation=conversation, role=MessageRole.CUSTOMER
    ).first()

    by_bob = as_person(bob).patch(f"/api/v1/notes/{note.pk}", {"text": "mine now"}, format="json")
    assert by_bob.status_code == 403
    by_manager = as_person(manager).patch(f"/api/v1/notes/{note.pk}", {"text": "x"}, format="json")
    assert by_manager.status_code == 403
    by_key = key_client.patch(f"/api/v1/notes/{note.pk}", {"text": "x"}, format="json")
    assert by_key.status_code == 403
    not_a_note = as_person(ada).patch(
        f"/api/v1/notes/{customer_message.pk}", {"text": "x"}, format="json"
    )
    assert not_a_note.status_code == 404
    empty = as_person(ada).patch(f"/api/v1/notes/{note.pk}", {"text": "  "}, format="json")
    assert empty.status_code == 400
    assert "text" in empty.json()["error"]["fields"]
    assert Message.objects.get(pk=note.pk).text == "VIP"
    assert not MessageRevision.objects.exists()


# --- status and the limit -----------------------------------------------------------------------


def test_away_and_busy_agents_get_no_offer_and_nobody_available_means_cold(
    key_client, team, online, ada, bob, tenant
):
    agent_status_set(user=ada, status=AgentStatus.AWAY)
    assert list(available_agents(tenant).values_list("user__username", flat=True)) == ["bob"]

    ada_hears = Listener(person_group(ada.pk))
    bob_hears = Listener(person_group(bob.pk))
    handoff = handed_over(key_client, "c-1")
    assert handoff.status == Status.OFFERED
    deliver_offer(handoff.pk)
    assert any(e.get("handoffId") == handoff.pk for e in bob_hears.events())
    assert not any(e.get("handoffId") == handoff.pk for e in ada_hears.events())

    agent_status_set(user=bob, status=AgentStatus.BUSY)
    cold = handed_over(key_client, "c-2")
    assert cold.mode == "cold" and cold.status == Status.QUEUED


def test_a_status_must_be_one_of_the_three(ada):
    with pytest.raises(Invalid) as refused:
        agent_status_set(user=ada, status="asleep")
    assert list(refused.value.fields) == ["status"]


def test_an_agent_at_their_limit_gets_no_offer_and_a_claim_is_refused(
    key_client, team, online, ada, bob, tenant
):
    AgentSetting.objects.create(tenant=tenant, user=ada, max_conversations=1)
    first = handed_over(key_client, "c-1")
    handoff_claim(handoff=first, user=ada)
    assert list(available_agents(tenant).values_list("user__username", flat=True)) == ["bob"]

    second = handed_over(key_client, "c-2")
    with pytest.raises(AtCapacity, match="limit of 1"):
        handoff_claim(handoff=second, user=ada)
    second.refresh_from_db()
    assert second.status in (Status.OFFERED, Status.QUEUED) and second.claimed_by is None

    response = as_person(ada).post(f"/api/v1/handoffs/{second.pk}/claim")
    assert response.status_code == 409 and "limit of 1" in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "at_capacity"  # not "claimed by someone else"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_claims_at_once_cannot_both_pass_the_limit(key_client, team, online, ada, tenant):
    from django.db import connection

    from tests.concurrency import race

    if connection.vendor != "postgresql":
        # the tests' in-memory SQLite shares one cache between the threads' connections and
        # refuses the second writer ("database table is locked") instead of making it wait
        pytest.skip("two claims at once are decided by row locks: PostgreSQL")

    AgentSetting.objects.create(tenant=tenant, user=ada, max_conversations=1)
    handoffs = [handed_over(key_client, f"c-{i}") for i in range(2)]

    results = race(2, lambda i: handoff_claim(handoff=handoffs[i], user=ada))

    assert sum(isinstance(r, Handoff) for r in results) == 1, results
    assert sum(isinstance(r, AtCapacity) for r in results) == 1, results
    assert Conversation.objects.filter(assignee=ada, state=State.WITH_HUMAN).count() == 1


# --- transfer -----------------------------------------------------------------------------------


def test_the_claimer_transfers_to_an_available_colleague(
    key_client, team, online, ada, bob, django_capture_on_commit_callbacks
):
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)

    conversation_transfer(conversation=handoff.conversation, user=ada, to_username="bob")

    handoff.refresh_from_db()
    conversation = Conversation.objects.get(pk=handoff.conversation_id)
    assert conversation.assignee == bob and handoff.claimed_by == bob
    note = Message.objects.filter(conversation=conversation).last()
    assert note.role == MessageRole.NOTE and "transferred the conversation to bob" in note.text
    with pytest.raises(NotTheClaimer):  # ada holds it no more
        conversation_transfer(conversation=conversation, user=ada, to_username="bob")


def test_a_transfer_needs_an_online_available_colleague_under_their_limit(
    key_client, team, online, ada, bob, tenant, other_tenant
):
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)
    conversation = handoff.conversation
    cy = make_person(tenant=tenant, roles=["agent"], username="cy")  # never online
    make_person(tenant=other_tenant, roles=["agent"], username="eve")
    make_person(tenant=tenant, roles=["approver"], username="priya2")

    for username in ("eve", "priya2", "nobody"):
        with pytest.raises(Invalid):
            conversation_transfer(conversation=conversation, user=ada, to_username=username)
    with pytest.raises(Unavailable, match="not online"):
        conversation_transfer(conversation=conversation, user=ada, to_username=cy.username)
    agent_status_set(user=bob, status=AgentStatus.AWAY)
    with pytest.raises(Unavailable, match="away"):
        conversation_transfer(conversation=conversation, user=ada, to_username="bob")
    agent_status_set(user=bob, status=AgentStatus.ONLINE)
    AgentSetting.objects.filter(user=bob).update(max_conversations=0)
    with pytest.raises(AtCapacity):
        conversation_transfer(conversation=conversation, user=ada, to_username="bob")
    assert Conversation.objects.get(pk=conversation.pk).assignee == ada


def test_back_to_the_queue_opens_a_new_offer(key_client, team, online, ada):
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)

    again = conversation_requeue(conversation=handoff.conversation, user=ada)

    handoff.refresh_from_db()
    conversation = Conversation.objects.get(pk=handoff.conversation_id)
    assert handoff.status == Status.RESOLVED
    assert again.pk != handoff.pk and again.status == Status.OFFERED
    assert conversation.state == State.HANDING_OFF and conversation.assignee is None


def test_transfer_and_requeue_pages_answer_400_and_409(key_client, team, online, ada, bob):
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)
    url = f"/inbox/conversations/{handoff.conversation_id}"

    missing = as_person(ada).post(f"{url}/transfer", {}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["fields"] == {"to": ["required"]}
    not_theirs = as_person(bob).post(f"{url}/requeue")
    assert not_theirs.status_code == 409
    done = as_person(ada).post(f"{url}/transfer", {"to": "bob"}, format="json")
    assert done.status_code == 200 and done.json()["assignee"] == "bob"


# --- canned replies -----------------------------------------------------------------------------


def test_canned_replies_through_the_api(key_client, tenant, other_tenant, ada):
    made = key_client.post(
        "/api/v1/canned-replies",
        {"shortcut": "refund-time", "title": "Refund timing", "text": "Refunds take 5 days."},
        format="json",
    )
    assert made.status_code == 201, made.json()
    reply_id = made.json()["id"]

    taken = key_client.post(
        "/api/v1/canned-replies", {"shortcut": "refund-time", "text": "x"}, format="json"
    )
    assert taken.status_code == 400 and "shortcut" in taken.json()["error"]["fields"]
    bad = key_client.post("/api/v1/canned-replies", {"shortcut": "Bad Name"}, format="json")
    assert bad.status_code == 400 and "shortcut" in bad.json()["error"]["fields"]

    changed = key_client.patch(
        f"/api/v1/canned-replies/{reply_id}", {"text": "Refunds take 3 days."}, format="json"
    )
    assert changed.json()["text"] == "Refunds take 3 days."
    assert [r["shortcut"] for r in as_person(ada).get("/api/v1/canned-replies").json()] == [
        "refund-time"
    ]
    assert as_person(ada).post("/api/v1/canned-replies", {}, format="json").status_code == 403

    theirs = CannedReply.objects.create(tenant=other_tenant, shortcut="hello", text="Hi")
    assert key_client.get(f"/api/v1/canned-replies/{theirs.pk}").status_code == 404
    assert key_client.delete(f"/api/v1/canned-replies/{theirs.pk}").status_code == 404
    assert key_client.delete(f"/api/v1/canned-replies/{reply_id}").status_code == 204
    assert key_client.get("/api/v1/canned-replies").json() == []


@pytest.mark.django_db(transaction=True)
def test_a_transfer_runs_in_its_own_transaction(key_client, team, online, ada, bob):
    """As the server runs it, outside any test's transaction: PostgreSQL refuses a row lock
    taken outside one, so a transfer that lost its transaction fails here (a CI run's
    Chromium transfer caught it: the colleague never got the conversation)."""
    handoff = handed_over(key_client)
    handoff_claim(handoff=handoff, user=ada)

    conversation_transfer(conversation=handoff.conversation, user=ada, to_username="bob")

    assert Conversation.objects.get(pk=handoff.conversation_id).assignee == bob
    assert Handoff.objects.get(pk=handoff.pk).claimed_by == bob
