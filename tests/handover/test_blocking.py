"""Blocking a customer (handover/blocking.py, conversations/blocks.py): a person blocks from a
conversation they reach; it is resolved, and no new conversation starts for that customer: by
their customer id or e-mail address over the API, by their address on e-mail, by their network
address on the web chat. Tenants apart, roles enforced, bad input refused, and a manager
unblocks in the admin."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from conversations.blocks import client_hash
from conversations.models import Conversation, CustomerBlock, Message
from core.models import Tenant
from handover.models import Handoff
from handover.services import handoff_claim
from tests.conftest import login
from tests.factories import make_api_key, make_person
from tests.handover.test_agent_tools import handed_over
from tests.handover.test_email_channel import captured, channel, form, post, take  # noqa: F401

pytestmark = pytest.mark.django_db

OURS = {"Origin": "http://testserver"}
HOME = "198.51.100.7"


def chat_start(slug="acme", address=HOME, text="I want a human please"):
    return Client(REMOTE_ADDR=address).post(
        f"/chat/{slug}/start", {"text": text}, content_type="application/json", headers=OURS
    )


def block(person, conversation_id, reason="Spam, again and again"):
    client = Client()
    client.force_login(person)
    return client.post(
        f"/inbox/conversations/{conversation_id}/block",
        {"reason": reason},
        content_type="application/json",
    )


def test_an_agent_blocks_a_web_visitor_and_their_address_starts_no_chat(
    team, tenant, globex, ada, bob, django_capture_on_commit_callbacks
):
    started = chat_start()
    assert started.status_code == 201, started.content
    conversation = Conversation.objects.get(pk=started.json()["conversationId"])
    assert conversation.client_hash == client_hash(HOME) and HOME not in conversation.client_hash
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=bob)

    with django_capture_on_commit_callbacks(execute=True):
        blocked = block(ada, conversation.pk)  # a colleague may block it too

    assert blocked.status_code == 200, blocked.content
    assert blocked.json() == {
        "state": "resolved",
        "blocked": [
            "Web chat visitor (their network address, hashed): a web chat visitor, until "
            f"{CustomerBlock.objects.get().expires_at:%Y-%m-%d}"
        ],
    }
    conversation.refresh_from_db()
    assert conversation.state == "resolved"
    assert Handoff.objects.get(conversation=conversation).status == "resolved"
    note = Message.objects.filter(conversation=conversation).last()
    assert (note.role, note.author) == ("note", "system")
    assert note.text.startswith("Ada blocked the customer") and "Spam, again" in note.text
    refused = chat_start()
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "blocked",
        "message": "You cannot start a chat here.",
    }
    assert chat_start(address="203.0.113.9").status_code == 201  # another address
    assert chat_start(slug="globex").status_code == 201  # another tenant's chat
    assert Conversation.objects.filter(tenant=tenant).count() == 2


def test_a_channels_customer_is_blocked_by_their_id_and_their_address(
    team, tenant, globex, key_client, ada, online
):
    handoff = handed_over(key_client, customer="wa-4915112345")
    Conversation.objects.filter(pk=handoff.conversation_id).update(customer_email="Kim@Example.com")

    assert block(ada, handoff.conversation_id).status_code == 200

    kinds = set(CustomerBlock.objects.filter(tenant=tenant).values_list("kind", "value"))
    assert kinds == {("customer", "wa-4915112345"), ("email", "kim@example.com")}
    start = {"agentId": "agent-sup", "channel": "api"}
    by_id = key_client.post(
        "/api/v1/conversations", {**start, "customer": {"id": "wa-4915112345"}}, format="json"
    )
    by_email = key_client.post(
        "/api/v1/conversations",
        {**start, "customer": {"id": "other", "email": "KIM@example.com"}},
        format="json",
    )
    someone_else = key_client.post(
        "/api/v1/conversations", {**start, "customer": {"id": "wa-1"}}, format="json"
    )
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=globex)[1]}")
    same_id_elsewhere = theirs.post(
        "/api/v1/conversations", {**start, "customer": {"id": "wa-4915112345"}}, format="json"
    )

    assert by_id.status_code == by_email.status_code == 403, by_id.content
    assert by_id.json()["error"]["code"] == "blocked"
    assert someone_else.status_code == 201
    assert same_id_elsewhere.status_code == 201


def test_a_blocked_senders_mail_opens_no_conversation(channel, captured, tenant, ada):  # noqa: F811
    first = take(channel, captured, form())
    conversation = Conversation.objects.get(pk=first.json()["conversationId"])
    person = make_person(tenant=tenant, roles=["manager"], username="mo")

    assert block(person, conversation.pk).status_code == 200

    again = take(channel, captured, form("Buy now!!!", sender="KIM@example.com", mail_id="<c2@x>"))
    assert again.status_code == 200, again.content
    assert again.json()["ignored"] == "the sender is blocked by the team"
    assert Conversation.objects.filter(tenant=tenant).count() == 1
    assert not Message.objects.filter(text__contains="Buy now").exists()


def test_the_door_checks_who_is_there(team, tenant, globex, key_client, ada, online):
    handoff = handed_over(key_client)
    never_handed = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-9"}},
        format="json",
    ).json()["id"]
    approver = make_person(tenant=tenant, roles=["approver"], username="priya2")
    stranger = make_person(tenant=globex, roles=["agent", "manager"], username="eve")

    assert block(approver, handoff.conversation_id).status_code == 403
    assert block(stranger, handoff.conversation_id).status_code == 404
    assert block(ada, never_handed).status_code == 404  # out of an agent's reach
    assert Client().post(f"/inbox/conversations/{handoff.conversation_id}/block").status_code in (
        302,
        401,
        403,
    )
    assert not CustomerBlock.objects.exists()
    assert Conversation.objects.get(pk=handoff.conversation_id).state == "handing_off"


@pytest.mark.parametrize("reason", ["x" * 501, 5, ["spam"], "spam\x00"])
def test_a_bad_reason_is_refused_naming_it_and_blocks_nothing(
    team, key_client, ada, online, reason
):
    handoff = handed_over(key_client)

    refused = block(ada, handoff.conversation_id, reason=reason)

    assert refused.status_code == 400, refused.content
    assert "reason" in refused.json()["error"]["fields"]
    assert not CustomerBlock.objects.exists()
    assert Conversation.objects.get(pk=handoff.conversation_id).state == "handing_off"


def test_the_answer_lists_a_block_made_before_from_elsewhere(channel, captured, tenant):  # noqa: F811
    from conversations.blocks import block_made

    first = take(channel, captured, form())
    block_made(tenant.pk, kind="email", value="KIM@example.com", reason="by hand")
    manager = make_person(tenant=tenant, roles=["manager"], username="mo")

    blocked = block(manager, first.json()["conversationId"])

    assert blocked.status_code == 200, blocked.content
    assert "E-mail address: kim@example.com" in blocked.json()["blocked"]


def test_blocking_twice_or_a_resolved_conversation_is_fine(team, tenant, ada):
    started = chat_start()
    conversation_id = started.json()["conversationId"]

    assert block(ada, conversation_id).status_code == 200
    again = block(ada, conversation_id, reason="")

    assert again.status_code == 200 and again.json()["state"] == "resolved"
    assert CustomerBlock.objects.count() == 1


def test_a_visitors_address_is_blocked_for_a_while_and_again_for_as_long(
    team, tenant, ada, settings
):
    import datetime as dt

    from django.utils import timezone

    settings.CHAT_ADDRESS_BLOCK_DAYS = 30
    conversation_id = chat_start().json()["conversationId"]
    before = timezone.now()

    blocked = block(ada, conversation_id)

    (row,) = CustomerBlock.objects.all()
    assert row.kind == "address"
    assert (
        before + dt.timedelta(days=30) <= row.expires_at <= timezone.now() + dt.timedelta(days=30)
    )
    assert blocked.json()["blocked"] == [
        f"Web chat visitor (their network address, hashed): a web chat visitor, until "
        f"{row.expires_at:%Y-%m-%d}"
    ]
    assert chat_start().status_code == 403

    # the time passes: the address starts chats again (an office behind one address)
    CustomerBlock.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    again = chat_start()
    assert again.status_code == 201

    # the same visitor is blocked again: the time starts again
    block(ada, again.json()["conversationId"])
    row.refresh_from_db()
    assert row.expires_at > timezone.now() + dt.timedelta(days=29)
    assert chat_start().status_code == 403
    assert CustomerBlock.objects.count() == 1


def test_with_no_days_a_visitors_address_is_blocked_for_good(team, tenant, ada, settings):
    settings.CHAT_ADDRESS_BLOCK_DAYS = 0

    block(ada, chat_start().json()["conversationId"])

    assert CustomerBlock.objects.get().expires_at is None
    assert chat_start().status_code == 403


def test_a_manager_ends_a_block_in_the_admin_and_a_new_one_by_hand_holds_for_good(
    team, tenant, manager, ada, key_client
):
    client = login(manager)
    block(ada, chat_start().json()["conversationId"])
    address = CustomerBlock.objects.get()
    listed = client.get("/admin/conversations/customerblock/").content.decode()
    assert f"until {address.expires_at:%Y-%m-%d}" in listed

    ended = client.post(
        f"/admin/conversations/customerblock/{address.pk}/change/",
        {"reason": "", "expires_at_0": "2020-01-01", "expires_at_1": "00:00:00"},
    )
    assert ended.status_code == 302, ended.context_data["adminform"].form.errors
    assert chat_start().status_code == 201  # ended: they may chat again
    assert "ended 2020-01-01" in client.get("/admin/conversations/customerblock/").content.decode()
    bad = client.post(
        f"/admin/conversations/customerblock/{address.pk}/change/",
        {"reason": "", "expires_at_0": "10000-01-01", "expires_at_1": "00:00:00"},
    )
    assert bad.status_code == 200 and "Enter a valid date" in bad.content.decode()

    # an e-mail address a manager blocked until a date, that date gone: blocked by hand again
    # (the API), it holds for good
    CustomerBlock.objects.create(
        tenant=tenant, kind="email", value="spam@example.com", expires_at="2020-01-01T00:00Z"
    )
    again = key_client.post(
        "/api/v1/blocks", {"kind": "email", "value": "spam@example.com"}, format="json"
    )
    assert again.status_code == 200 and again.json()["expiresAt"] is None
    listed = key_client.get("/api/v1/blocks").json()
    assert {b["kind"]: b["expiresAt"] is None for b in listed} == {"email": True, "address": False}


def test_a_manager_blocks_an_address_by_hand_and_unblocks(tenant, manager, channel, captured):  # noqa: F811
    client = login(manager)
    add = "/admin/conversations/customerblock/add/"

    made = client.post(add, {"kind": "email", "value": " Spam@Example.com ", "reason": "spam"})
    twice = client.post(add, {"kind": "email", "value": "spam@example.com"})
    bad = client.post(add, {"kind": "email", "value": "not an address"})
    hashed = client.post(add, {"kind": "address", "value": "abc"})

    assert made.status_code == 302, made.content.decode()[:3000]
    block_row = CustomerBlock.objects.get()
    assert (block_row.tenant, block_row.value, block_row.blocked_by) == (
        tenant,
        "spam@example.com",
        manager,
    )
    assert twice.status_code == bad.status_code == hashed.status_code == 200
    assert CustomerBlock.objects.count() == 1
    mail = form(sender="spam@example.com")
    assert take(channel, captured, mail).status_code == 200  # dropped
    page = client.get("/admin/conversations/customerblock/").content.decode()
    assert "spam@example.com" in page

    deleted = client.post(
        f"/admin/conversations/customerblock/{block_row.pk}/delete/", {"post": "yes"}
    )

    assert deleted.status_code == 302
    unblocked = take(channel, captured, form(sender="spam@example.com", mail_id="<c3@x>"))
    assert unblocked.status_code == 201, unblocked.content
    other = Tenant.objects.create(slug="initech", name="Initech")
    CustomerBlock.objects.create(tenant=other, kind="email", value="x@example.com")
    assert "x@example.com" not in client.get("/admin/conversations/customerblock/").content.decode()


# --- over the API ---------------------------------------------------------------------------


def test_an_integration_blocks_lists_and_unblocks(team, tenant, globex, key_client, ada):
    started = chat_start()
    block(ada, started.json()["conversationId"])  # a web visitor, blocked from the inbox
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=globex)[1]}")

    made = key_client.post(
        "/api/v1/blocks",
        {"kind": "email", "value": "Spam@Example.com", "reason": "spam filter"},
        format="json",
    )
    again = key_client.post(
        "/api/v1/blocks", {"kind": "email", "value": "spam@example.com"}, format="json"
    )
    listed = key_client.get("/api/v1/blocks").json()

    assert made.status_code == 201 and again.status_code == 200, made.content
    assert made.json()["value"] == "spam@example.com" and made.json()["blockedBy"] is None
    assert again.json()["id"] == made.json()["id"]
    visitor = next(b for b in listed if b["kind"] == "address")
    assert visitor["value"] is None  # the address's hash is never shown
    assert visitor["blockedBy"] == "ada" and visitor["conversationId"]
    assert theirs.get("/api/v1/blocks").json() == []
    assert theirs.delete(f"/api/v1/blocks/{made.json()['id']}").status_code == 404
    start = {"agentId": "agent-sup", "channel": "api"}
    spam = {**start, "customer": {"id": "x", "email": "spam@example.com"}}
    assert key_client.post("/api/v1/conversations", spam, format="json").status_code == 403

    assert key_client.delete(f"/api/v1/blocks/{made.json()['id']}").status_code == 204

    assert key_client.post("/api/v1/conversations", spam, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "address", "value": "abc"}, "kind"),
        ({"kind": "ip", "value": "10.0.0.1"}, "kind"),
        ({"kind": "email", "value": "not an address"}, "value"),
        ({"kind": "email"}, "value"),
        ({"kind": "customer", "value": "x" * 201}, "value"),
        ({"kind": "customer", "value": "wa\ud800"}, "value"),
        ({"kind": "customer", "value": "wa-1", "reason": "r" * 501}, "reason"),
        ({"kind": "customer", "value": ["wa-1"]}, "value"),
    ],
)
def test_a_bad_block_is_refused_naming_the_field(team, key_client, body, field):
    import json

    # the JSON escapes a lone surrogate (\ud800), as a client would send it
    refused = key_client.post(
        "/api/v1/blocks", data=json.dumps(body), content_type="application/json"
    )

    assert refused.status_code == 400, refused.content
    assert field in refused.json()["error"]["fields"]
    assert not CustomerBlock.objects.exists()


def test_agents_and_approvers_do_not_use_the_blocks_api(team, tenant, ada):
    from tests.handover.test_agent_tools import as_person

    approver = make_person(tenant=tenant, roles=["approver"], username="priya2")
    for person in (ada, approver):
        client = as_person(person)
        assert client.get("/api/v1/blocks").status_code == 403
        body = {"kind": "customer", "value": "wa-1"}
        assert client.post("/api/v1/blocks", body, format="json").status_code == 403
    assert not CustomerBlock.objects.exists()


def test_a_visitor_whose_address_the_server_cannot_tell_is_not_blocked_by_it(team, tenant, manager):
    nowhere = Client(REMOTE_ADDR="")
    started = nowhere.post(
        "/chat/acme/start", {"text": "spam"}, content_type="application/json", headers=OURS
    )
    conversation = Conversation.objects.get(pk=started.json()["conversationId"])

    assert conversation.client_hash == ""
    assert block(manager, conversation.pk).status_code == 200
    assert not CustomerBlock.objects.filter(kind="address").exists()
    # another visitor without an address still starts a chat
    again = Client(REMOTE_ADDR="").post(
        "/chat/acme/start", {"text": "hello"}, content_type="application/json", headers=OURS
    )
    assert again.status_code == 201


def test_an_integration_blocks_until_a_moment_and_changes_its_end(team, tenant, key_client):
    import datetime as dt

    from django.utils import timezone

    soon = (timezone.now() + dt.timedelta(days=7)).replace(microsecond=0)
    made = key_client.post(
        "/api/v1/blocks",
        {"kind": "email", "value": "spam@example.com", "expiresAt": soon.isoformat()},
        format="json",
    )
    assert made.status_code == 201, made.json()
    assert CustomerBlock.objects.get().expires_at == soon
    assert made.json()["expiresAt"].startswith(soon.strftime("%Y-%m-%dT%H:%M"))

    kept = key_client.post(  # again, without an end: it keeps the one it has
        "/api/v1/blocks", {"kind": "email", "value": "spam@example.com"}, format="json"
    )
    assert kept.status_code == 200 and CustomerBlock.objects.get().expires_at == soon
    for_good = key_client.post(
        "/api/v1/blocks",
        {"kind": "email", "value": "spam@example.com", "expiresAt": None},
        format="json",
    )
    assert for_good.status_code == 200 and for_good.json()["expiresAt"] is None
    assert CustomerBlock.objects.get().expires_at is None


@pytest.mark.parametrize(
    "expires_at",
    ["2020-01-01T00:00:00Z", "tomorrow", "9999-12-31", "2026-02-30", 12, ["2030-01-01"], "\x00"],
)
def test_a_bad_end_is_refused_naming_it_and_blocks_nothing(team, key_client, expires_at):
    refused = key_client.post(
        "/api/v1/blocks",
        {"kind": "email", "value": "spam@example.com", "expiresAt": expires_at},
        format="json",
    )

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == ["expiresAt"]
    assert not CustomerBlock.objects.exists()
