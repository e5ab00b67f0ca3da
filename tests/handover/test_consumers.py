"""The websockets: the inbox (agents and approvers) and the customer's side, through the real
ASGI application (origin check, session auth), the channel layer and the database."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from config.asgi import application
from conversations.models import Conversation
from conversations.services import conversation_start
from handover.models import Handoff
from orchestration.turns import conversation_receive_message
from tests.factories import make_person
from tests.sockets import Socket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def inbox(user=None) -> tuple[Socket, bool, int | None]:
    headers = [ORIGIN]
    if user is not None:
        headers.append(await sync_to_async(session_cookie)(user))
    communicator = Socket(application, "/ws/inbox/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def receive_until(communicator, kind: str, limit: int = 10) -> dict:
    for _ in range(limit):
        event = await communicator.receive_json_from(timeout=3)
        if event.get("type") == kind:
            return event
    raise AssertionError(f"no {kind} event")


async def test_signed_out_people_are_refused_with_4401():
    _, connected, code = await inbox()

    assert (connected, code) == (False, 4401)


async def test_people_without_an_inbox_role_are_refused_with_4403(tenant):
    manager = await sync_to_async(make_person)(tenant=tenant, roles=["manager"])

    _, connected, code = await inbox(manager)

    assert (connected, code) == (False, 4403)


async def test_an_agent_gets_a_snapshot_then_hot_offers_live_and_only_their_tenants(
    tenant, other_tenant
):
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    await sync_to_async(make_team)(other_tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    eve = await sync_to_async(make_person)(tenant=other_tenant, roles=["agent"], username="eve")
    mine, _, _ = await inbox(ada)
    theirs, _, _ = await inbox(eve)

    snapshot = await receive_until(mine, "inbox.snapshot")
    assert snapshot["handoffs"] == [] and "approvals" in snapshot
    conv = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=conv, text="I want a human")

    offered = await receive_until(mine, "handoff.offered")
    assert offered["conversationId"] == str(conv.pk)
    while not await theirs.receive_nothing(timeout=0.3):  # only their own presence events
        event = await theirs.receive_json_from()
        assert event["type"] != "handoff.offered"
    await mine.disconnect()
    await theirs.disconnect()


async def test_two_agents_race_to_claim_and_exactly_one_wins(tenant):
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    a, _, _ = await inbox(ada)
    b, _, _ = await inbox(bob)
    conv = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=conv, text="I want a human")
    handoff = await sync_to_async(Handoff.objects.get)(conversation=conv)

    await a.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})
    await b.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})
    results = [
        await receive_until(a, "handoff.claim.result"),
        await receive_until(b, "handoff.claim.result"),
    ]

    assert sorted(r["ok"] for r in results) == [False, True]
    loser = next(r for r in results if not r["ok"])
    assert "already been claimed" in loser["error"]
    await a.disconnect()
    await b.disconnect()


async def _drain(communicator, quiet: float = 0.3):
    while not await communicator.receive_nothing(timeout=quiet):
        yield await communicator.receive_json_from()


async def offers_heard(communicator, quiet: float = 0.5) -> list[int]:
    """The handoffs offered on the socket until it has been quiet for ``quiet`` seconds."""
    heard = []
    while not await communicator.receive_nothing(timeout=quiet):
        event = await communicator.receive_json_from()
        if event.get("type") == "handoff.offered":
            heard.append(event["handoffId"])
    return heard


async def test_an_agent_at_their_limit_keeps_an_offer_and_hears_of_it_again_once_a_seat_frees(
    tenant,
):
    from handover.models import AgentSetting
    from handover.services import conversation_resolve
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    await sync_to_async(AgentSetting.objects.create)(tenant=tenant, user=ada, max_conversations=1)
    a, _, _ = await inbox(ada)
    b, _, _ = await inbox(bob)
    first = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=first, text="I want a human")
    offer = await receive_until(a, "handoff.offered", limit=40)
    await a.send_json_to({"type": "handoff.claim", "handoffId": offer["handoffId"]})
    assert (await receive_until(a, "handoff.claim.result", limit=40))["ok"] is True

    # ada holds her limit: the next offer goes to bob only, and her claim of it is refused as
    # "at capacity" (not "claimed by someone else"): it is still open
    second = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=second, text="I want a human")
    later = await receive_until(b, "handoff.offered", limit=40)
    while later["conversationId"] != str(second.pk):  # bob heard of the first one too
        later = await receive_until(b, "handoff.offered", limit=40)
    assert later["handoffId"] not in await offers_heard(a)
    await a.send_json_to({"type": "handoff.claim", "handoffId": later["handoffId"]})
    refused = await receive_until(a, "handoff.claim.result", limit=40)
    assert (refused["ok"], refused["code"]) == (False, "at_capacity")
    assert "the limit of 1" in refused["error"]
    handoff = await sync_to_async(Handoff.objects.get)(pk=later["handoffId"])
    assert handoff.status == "offered"

    # she resolves her conversation: the offer still open reaches her, and she claims it
    await sync_to_async(conversation_resolve)(conversation=first, user=ada)
    assert await offers_heard(a) == [later["handoffId"]]
    assert later["handoffId"] not in await offers_heard(b, quiet=0.2)  # bob heard of it once
    await a.send_json_to({"type": "handoff.claim", "handoffId": later["handoffId"]})
    assert (await receive_until(a, "handoff.claim.result", limit=40))["ok"] is True
    await a.disconnect()
    await b.disconnect()


async def test_an_agent_back_from_away_hears_of_the_offers_still_open(tenant, other_tenant):
    from handover.services import agent_status_set
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    await sync_to_async(make_team)(other_tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    eve = await sync_to_async(make_person)(tenant=other_tenant, roles=["agent"], username="eve")
    a, _, _ = await inbox(ada)
    b, _, _ = await inbox(bob)
    e, _, _ = await inbox(eve)
    theirs = await sync_to_async(_open_conversation)(other_tenant)  # another tenant's offer
    await sync_to_async(conversation_receive_message)(conversation=theirs, text="I want a human")
    their_offer = await receive_until(e, "handoff.offered", limit=40)
    await sync_to_async(agent_status_set)(user=ada, status="away")
    offers = []
    for _ in range(2):
        conv = await sync_to_async(_open_conversation)(tenant)
        await sync_to_async(conversation_receive_message)(conversation=conv, text="I want a human")
        offer = await receive_until(b, "handoff.offered", limit=40)
        while offer["handoffId"] in offers:
            offer = await receive_until(b, "handoff.offered", limit=40)
        offers.append(offer["handoffId"])
    assert not set(offers) & set(await offers_heard(a))

    await sync_to_async(agent_status_set)(user=ada, status="busy")  # still not available
    assert await offers_heard(a) == []
    await sync_to_async(agent_status_set)(user=ada, status="online")

    assert await offers_heard(a) == offers  # both, the oldest first: none of the other tenant's
    assert their_offer["handoffId"] not in offers
    await a.disconnect()
    await b.disconnect()
    await e.disconnect()


async def test_a_manager_raising_an_agents_limit_offers_them_what_is_still_open(tenant):
    from handover.models import AgentSetting
    from tests.conftest import login
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    manager = await sync_to_async(make_person)(tenant=tenant, roles=["manager"], username="mo")
    setting = await sync_to_async(AgentSetting.objects.create)(
        tenant=tenant, user=ada, max_conversations=0
    )
    a, _, _ = await inbox(ada)
    b, _, _ = await inbox(bob)
    assert (await receive_until(a, "inbox.snapshot"))["myLimit"] == 0
    conv = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=conv, text="I want a human")
    offer = await receive_until(b, "handoff.offered", limit=40)
    assert offer["handoffId"] not in await offers_heard(a)  # ada may hold none

    def raise_limit():
        return login(manager).post(
            f"/admin/handover/agentsetting/{setting.pk}/change/", {"max_conversations": 2}
        )

    response = await sync_to_async(raise_limit)()

    assert response.status_code == 302
    assert (await sync_to_async(AgentSetting.objects.get)(pk=setting.pk)).max_conversations == 2
    changed = await receive_until(a, "limit.changed", limit=40)
    assert changed["myLimit"] == 2  # her inbox shows "0 of 2"
    assert await offers_heard(a) == [offer["handoffId"]]
    assert "limit.changed" not in [e["type"] async for e in _drain(b)]  # hers alone
    await a.disconnect()
    await b.disconnect()


async def test_the_human_and_the_customer_talk_live(tenant):
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(
        tenant=tenant, roles=["agent"], username="ada", first_name="Ada"
    )
    agent_socket, _, _ = await inbox(ada)
    conv, token = await sync_to_async(_open_conversation_with_token)(tenant)
    customer = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    connected, _ = await customer.connect()
    assert connected
    await receive_until(customer, "conversation.snapshot")

    await customer.send_json_to({"type": "message.send", "text": "I want a human"})
    offer = await receive_until(agent_socket, "handoff.offered")
    await agent_socket.send_json_to({"type": "handoff.claim", "handoffId": offer["handoffId"]})
    await receive_until(agent_socket, "handoff.claim.result")
    await agent_socket.send_json_to(
        {"type": "message.send", "conversationId": str(conv.pk), "text": "Hi, Ada here"}
    )

    for _ in range(10):
        event = await receive_until(customer, "message.created")
        if event["message"]["role"] == "human":
            break
    assert event["message"]["text"] == "Hi, Ada here"
    assert event["message"]["author"] == "Ada"
    await customer.send_json_to({"type": "message.send", "text": "Thanks Ada"})
    for _ in range(10):
        seen = await receive_until(agent_socket, "message.created")
        if seen["message"]["role"] == "customer" and seen["message"]["text"] == "Thanks Ada":
            break
    else:
        raise AssertionError("the customer's message did not reach the inbox")
    state = await sync_to_async(lambda: Conversation.objects.get(pk=conv.pk).state)()
    assert state == "with_human"
    await customer.disconnect()
    await agent_socket.disconnect()


async def test_a_customer_socket_needs_the_conversations_token(tenant):
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conv, _ = await sync_to_async(_open_conversation_with_token)(tenant)

    wrong = Socket(application, f"/ws/conversations/{conv.pk}/?token=ct_nope", headers=[ORIGIN])
    missing = Socket(
        application,
        "/ws/conversations/00000000-0000-0000-0000-000000000000/?token=x",
        headers=[ORIGIN],
    )

    assert await wrong.connect() == (False, 4401)
    assert await missing.connect() == (False, 4404)


async def test_presence_follows_sockets(tenant):
    from handover.presence import anyone_online

    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    assert not await sync_to_async(anyone_online)(tenant)

    socket, _, _ = await inbox(ada)
    await receive_until(socket, "inbox.snapshot")
    assert await sync_to_async(anyone_online)(tenant)
    await socket.send_json_to({"type": "heartbeat"})
    assert (await receive_until(socket, "heartbeat.ack"))["type"] == "heartbeat.ack"

    await socket.disconnect()
    assert not await sync_to_async(anyone_online)(tenant)


async def test_agents_connecting_together_are_told_in_one_presence_broadcast(tenant, monkeypatch):
    from handover import presence

    monkeypatch.setattr(presence, "PRESENCE_COALESCE_SECONDS", 1.0)
    names = [f"agent{n}" for n in range(6)]
    people = [
        await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username=name)
        for name in names
    ]

    sockets = [(await inbox(person))[0] for person in people]
    events = []
    while not await sockets[0].receive_nothing(timeout=1.5):
        events.append(await sockets[0].receive_json_from())

    presence = [e for e in events if e["type"] == "presence"]
    assert len(presence) == 1  # not one per connect, to every socket
    assert presence[0]["online"] == names
    await sockets[-1].disconnect()
    left = await receive_until(sockets[0], "presence")
    assert left["online"] == names[:-1]
    for socket in sockets[:-1]:
        await socket.disconnect()


def _open_conversation(tenant):
    return _open_conversation_with_token(tenant)[0]


def _open_conversation_with_token(tenant):
    from agents.models import Agent

    agent = Agent.objects.get(tenant=tenant, slug="agent-sup")
    return conversation_start(tenant=tenant, agent=agent, channel="web", customer={"id": "c-1"})


async def test_the_snapshot_carries_open_handoffs_with_their_dates(tenant):
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    conv = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=conv, text="I want a human")

    socket, connected, _ = await inbox(ada)
    snapshot = await receive_until(socket, "inbox.snapshot")

    assert connected
    assert [h["conversationId"] for h in snapshot["handoffs"]] == [str(conv.pk)]
    assert snapshot["handoffs"][0]["createdAt"].startswith("20")  # ISO 8601 text
    await socket.disconnect()


async def test_a_member_of_an_approver_group_gets_the_inbox_socket(tenant):
    from core.models import ApproverGroup

    finance = await sync_to_async(make_person)(tenant=tenant, roles=[], username="fin")
    group = await sync_to_async(ApproverGroup.objects.create)(tenant=tenant, name="finance")
    await sync_to_async(group.members.add)(finance)

    socket, connected, _ = await inbox(finance)

    assert connected
    assert (await receive_until(socket, "inbox.snapshot"))["approvals"] == []
    await socket.disconnect()


async def test_a_customer_socket_counts_the_customer_as_in_the_chat_while_it_is_open(tenant):
    from conversations.customer_presence import customer_here
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conv, token = await sync_to_async(_open_conversation_with_token)(tenant)
    assert not customer_here(conv.pk)

    socket = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    connected, _ = await socket.connect()
    await receive_until(socket, "conversation.snapshot")
    here = customer_here(conv.pk)
    await socket.disconnect()

    assert connected and here
    assert not customer_here(conv.pk)


async def test_the_customers_snapshot_says_which_address_replies_follow_them_to(tenant):
    from conversations.services import conversation_email_follow_up
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conv, token = await sync_to_async(_open_conversation_with_token)(tenant)
    path = f"/ws/conversations/{conv.pk}/?token={token}"

    before = Socket(application, path, headers=[ORIGIN])
    await before.connect()
    first = await receive_until(before, "conversation.snapshot")
    await before.disconnect()
    await sync_to_async(conversation_email_follow_up)(conversation=conv, email="kim@example.com")
    after = Socket(application, path, headers=[ORIGIN])
    await after.connect()
    second = await receive_until(after, "conversation.snapshot")
    await after.disconnect()

    assert first["followUpEmail"] is None
    assert second["followUpEmail"] == "kim@example.com"


async def test_a_file_the_customer_sent_is_in_their_snapshot_with_its_link(
    tenant, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import TO_PEOPLE, make_team

    settings.MEDIA_ROOT = str(tmp_path)
    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conv, token = await sync_to_async(_open_conversation_with_token)(tenant)
    photo = SimpleUploadedFile("heel.png", b"\x89PNG\r\n\x1a\n" + bytes(32), "image/png")
    sent = await sync_to_async(Client().post)(
        f"/chat/{tenant.slug}/files",
        {"conversationId": str(conv.pk), "token": token, "file": photo, "text": "Broken heel"},
        headers={"Origin": "http://testserver"},
    )
    assert sent.status_code == 201, sent.content

    socket = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    await socket.connect()
    snapshot = await receive_until(socket, "conversation.snapshot")
    await socket.disconnect()

    (with_file,) = [m for m in snapshot["messages"] if m.get("attachments")]
    assert with_file["text"] == "Broken heel"
    assert with_file["attachments"][0]["filename"] == "heel.png"
    assert with_file["attachments"][0]["url"].startswith("/files/")
    fetched = await sync_to_async(Client().get)(with_file["attachments"][0]["url"])
    assert fetched.status_code == 200


def _answered_conversation(tenant):
    """A web conversation with the customer's message and the AI's answer."""
    from conversations.models import Message

    conv, token = _open_conversation_with_token(tenant)
    conversation_receive_message(conversation=conv, text="Where is my parcel?")
    ours = Message.objects.filter(conversation=conv).exclude(role="customer").order_by("id")
    theirs = Message.objects.get(conversation=conv, role="customer")
    return conv, token, ours.last().pk, theirs.pk


async def test_what_the_customer_saw_reaches_the_inbox_that_watches_it(tenant):
    from conversations.models import Conversation as Conv
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    conv, token, answer_id, own_id = await sync_to_async(_answered_conversation)(tenant)
    other, _, other_answer, _ = await sync_to_async(_answered_conversation)(tenant)
    watcher, _, _ = await inbox(ada)
    await receive_until(watcher, "inbox.snapshot")
    await watcher.send_json_to({"type": "conversation.watch", "conversationId": str(conv.pk)})
    await receive_until(watcher, "conversation.watch.result")
    customer = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    await customer.connect()
    await receive_until(customer, "conversation.snapshot")

    for bad in ("7", -1, True, None):  # refused in words, the socket stays
        await customer.send_json_to({"type": "seen", "messageId": bad})
        assert (await receive_until(customer, "error"))["field"] == "messageId"
    await customer.send_json_to({"type": "seen", "messageId": answer_id})
    told = await receive_until(watcher, "customer.seen")
    await customer.send_json_to({"type": "seen", "messageId": answer_id})  # again: nothing
    await customer.send_json_to({"type": "seen", "messageId": own_id})  # their own: nothing
    await customer.send_json_to({"type": "seen", "messageId": other_answer})  # not this one's
    await customer.send_json_to({"type": "resync"})  # the reports before it are handled
    await receive_until(customer, "conversation.snapshot")
    await customer.disconnect()
    later = []  # the watcher heard of the one report only (presence and the like may come)
    while not await watcher.receive_nothing(timeout=0.5):
        later.append(await watcher.receive_json_from())
    await watcher.disconnect()

    assert told == {"type": "customer.seen", "conversationId": str(conv.pk), "messageId": answer_id}
    assert [e for e in later if e["type"] == "customer.seen"] == []
    seen = await sync_to_async(lambda: Conv.objects.get(pk=conv.pk).customer_seen_message_id)()
    assert seen == answer_id
    unseen = await sync_to_async(lambda: Conv.objects.get(pk=other.pk).customer_seen_message_id)()
    assert unseen is None


async def test_a_hidden_chat_does_not_count_as_the_customer_being_there(tenant):
    from conversations.customer_presence import customer_here
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    conv, token = await sync_to_async(_open_conversation_with_token)(tenant)
    socket = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    await socket.connect()
    await receive_until(socket, "conversation.snapshot")

    await socket.send_json_to({"type": "visibility", "visible": False})
    await socket.send_json_to({"type": "visibility", "visible": False})  # twice: counted once
    await socket.send_json_to({"type": "resync"})
    await receive_until(socket, "conversation.snapshot")
    hidden = customer_here(conv.pk)
    await socket.send_json_to({"type": "visibility", "visible": True})
    await socket.send_json_to({"type": "visibility", "visible": "yes"})
    refused = await receive_until(socket, "error")
    shown = customer_here(conv.pk)
    await socket.disconnect()

    assert (hidden, shown) == (False, True)
    assert refused["field"] == "visible"
    assert not customer_here(conv.pk)  # closed while shown: counted out once


async def test_the_chat_hears_whether_a_person_is_ringing_or_will_follow_up(tenant):
    from handover.presence import presence_join
    from handover.services import handoff_make_cold
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    await sync_to_async(presence_join)(user=ada, tenant=tenant)
    conv, token = await sync_to_async(_open_conversation_with_token)(tenant)
    socket = Socket(application, f"/ws/conversations/{conv.pk}/?token={token}", headers=[ORIGIN])
    await socket.connect()
    assert (await receive_until(socket, "conversation.snapshot"))["waiting"] is None

    await sync_to_async(conversation_receive_message)(
        conversation=conv, text="I want to talk to a human please"
    )
    live = await receive_until(socket, "conversation.waiting")
    handoff = await sync_to_async(Handoff.objects.get)(conversation=conv)
    await sync_to_async(handoff_make_cold)(handoff_id=handoff.pk, reason="nobody claimed it")
    queued = await receive_until(socket, "conversation.waiting")
    await socket.send_json_to({"type": "resync"})
    again = await receive_until(socket, "conversation.snapshot")
    await socket.disconnect()

    assert live["waiting"] == "live" and queued["waiting"] == "queued"
    assert "handoffId" not in live  # the team's, not the customer's
    assert again["waiting"] == "queued"


def _note_naming(tenant, author, text):
    from handover.services import note_post

    conv = _open_conversation(tenant)
    return note_post(conversation=conv, user=author, text=text)


async def test_a_mention_reaches_the_named_persons_sockets_only_and_they_mark_it_read(
    tenant, other_tenant
):
    from handover.models import Mention
    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    await sync_to_async(make_team)(other_tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    eve = await sync_to_async(make_person)(tenant=other_tenant, roles=["agent"], username="eve")
    bobs, _, _ = await inbox(bob)
    adas, _, _ = await inbox(ada)
    eves, _, _ = await inbox(eve)
    for socket in (bobs, adas, eves):
        snapshot = await receive_until(socket, "inbox.snapshot")
        assert snapshot["mentions"] == {"unread": 0, "recent": []}

    note = await sync_to_async(_note_naming)(tenant, ada, "@bob @eve the label is wrong")
    created = await receive_until(bobs, "mention.created")
    assert created["mention"]["messageId"] == note.pk
    assert created["mention"]["excerpt"] == "@bob @eve the label is wrong"

    for bad in ("7", [0], [True], {"x": 1}):  # refused in words, the socket stays
        await bobs.send_json_to({"type": "mention.read", "mentionIds": bad})
        refused = await receive_until(bobs, "mention.read.result")
        assert (refused["ok"], list(refused["fields"])) == (False, ["ids"])
    await bobs.send_json_to({"type": "mention.read", "conversationId": "not-a-uuid"})
    assert not (await receive_until(bobs, "mention.read.result"))["ok"]
    await adas.send_json_to({"type": "mention.read"})  # Ada reads all of hers: not Bob's
    assert (await receive_until(adas, "mention.read.result"))["mentionIds"] == []
    await bobs.send_json_to({"type": "mention.read", "conversationId": str(note.conversation_id)})
    heard = {}  # the answer, and the event for his other tabs (in either order)
    while len(heard) < 2:
        event = await bobs.receive_json_from(timeout=3)
        if event["type"] in ("mention.read", "mention.read.result"):
            heard[event["type"]] = event
    assert heard["mention.read.result"]["ok"]
    assert heard["mention.read.result"]["mentionIds"] == [created["mention"]["id"]]
    assert heard["mention.read"]["mentionIds"] == [created["mention"]["id"]]

    for socket in (adas, eves):  # neither the author nor another tenant's eve heard of it
        while not await socket.receive_nothing(timeout=0.3):
            assert not (await socket.receive_json_from())["type"].startswith("mention.")
        await socket.disconnect()
    await bobs.disconnect()
    read = await sync_to_async(lambda: Mention.objects.get(user=bob).read_at)()
    assert read is not None


async def test_the_holder_snoozes_over_the_socket_and_a_bad_time_is_refused_in_words(tenant):
    import datetime as dt

    from django.utils import timezone

    from tests.factories import TO_PEOPLE, make_team

    await sync_to_async(make_team)(tenant, **TO_PEOPLE)
    ada = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="ada")
    bob = await sync_to_async(make_person)(tenant=tenant, roles=["agent"], username="bob")
    a, _, _ = await inbox(ada)
    b, _, _ = await inbox(bob)
    conv = await sync_to_async(_open_conversation)(tenant)
    await sync_to_async(conversation_receive_message)(conversation=conv, text="I want a human")
    handoff = await sync_to_async(Handoff.objects.get)(conversation=conv)
    await a.send_json_to({"type": "handoff.claim", "handoffId": handoff.pk})
    assert (await receive_until(a, "handoff.claim.result"))["ok"]
    until = (timezone.now() + dt.timedelta(hours=1)).isoformat()

    for bad in ("soon", 7, "1999-01-01T00:00:00Z"):
        await a.send_json_to({"type": "handoff.snooze", "handoffId": handoff.pk, "until": bad})
        refused = await receive_until(a, "handoff.snooze.result")
        assert (refused["ok"], list(refused["fields"])) == (False, ["until"])
    await b.send_json_to({"type": "handoff.snooze", "handoffId": handoff.pk, "until": until})
    assert not (await receive_until(b, "handoff.snooze.result"))["ok"]  # not his
    await a.send_json_to({"type": "handoff.snooze", "handoffId": handoff.pk, "until": until})
    done = await receive_until(a, "handoff.snooze.result")
    heard = await receive_until(b, "handoff.snoozed")  # the tenant's inboxes hear of it

    assert done["ok"] and done["snoozedUntil"]
    assert heard["handoffId"] == handoff.pk and heard["snoozedUntil"]
    await a.disconnect()
    await b.disconnect()
