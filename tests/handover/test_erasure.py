"""Erasing a customer's data at their request (orchestration/erasure.py): every conversation
of theirs deleted with what is in it (messages, files and their bytes, handoffs), an open one
resolved first (the holder's seat frees, the inboxes and the customer's chat hear it), nobody
else's touched (another customer, another tenant); an ``Erasure`` row keeps who and how much,
the customer only as a keyed hash. Refused while an approval waits; bad input is a 400 naming
the field; only managers and integrations; the admin confirms first."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApprovalRequest
from config.asgi import application
from conversations.models import (
    Attachment,
    Conversation,
    Erasure,
    InboundEmail,
    Message,
)
from core.events import tenant_inbox_group
from core.models import FileUsage
from core.principals import Principal
from handover.models import Handoff
from handover.services import handoff_claim
from orchestration.erasure import ErasureRefused, customer_erase, erasure_hash
from orchestration.turns import apply
from tests.factories import make_api_key, make_person
from tests.handover.test_agent_tools import Listener, as_person, handed_over

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
OURS = {"Origin": "http://testserver"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def opened(key_client, customer: str, email: str = "") -> Conversation:
    body = {"id": customer, **({"email": email} if email else {})}
    response = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "api", "customer": body},
        format="json",
    )
    assert response.status_code == 201, response.json()
    said = key_client.post(
        f"/api/v1/conversations/{response.json()['id']}/messages",
        {"text": "Where is my parcel?"},
        format="json",
    )
    assert said.status_code == 201, said.json()
    return Conversation.objects.get(pk=response.json()["id"])


def chat_with_a_photo() -> tuple[Conversation, dict, Attachment]:
    started = (
        Client()
        .post(
            "/chat/acme/start",
            {"text": "My boots came broken, I'm kim@example.com"},
            content_type="application/json",
            headers=OURS,
        )
        .json()
    )
    sent = Client().post(
        "/chat/acme/files",
        {
            "conversationId": started["conversationId"],
            "token": started["token"],
            "file": SimpleUploadedFile("heel.png", PNG, content_type="image/png"),
        },
        headers=OURS,
    )
    assert sent.status_code == 201, sent.content
    conversation = Conversation.objects.get(pk=started["conversationId"])
    Conversation.objects.filter(pk=conversation.pk).update(customer_email="Kim@Example.com")
    return conversation, started, Attachment.objects.get(conversation=conversation)


def erase(tenant, kind, value, by=None):
    return customer_erase(tenant_id=tenant.pk, kind=kind, value=value, by=by or Principal())


def test_every_conversation_of_the_customer_goes_and_nobody_elses(
    key_client, tenant, globex, team, django_capture_on_commit_callbacks
):
    theirs = [opened(key_client, "c-kim"), opened(key_client, "c-kim")]
    someone_else = opened(key_client, "c-lee")
    _, raw = make_api_key(tenant=globex)
    other = Client(headers={"Authorization": f"Bearer {raw}"})
    elsewhere = other.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "api", "customer": {"id": "c-kim"}},
        content_type="application/json",
    )
    assert elsewhere.status_code == 201, elsewhere.json()
    kept = Message.objects.filter(conversation=someone_else).count()

    with django_capture_on_commit_callbacks(execute=True):
        erasure = erase(tenant, "customer", "c-kim")

    assert not Conversation.objects.filter(pk__in=[c.pk for c in theirs]).exists()
    assert not Message.objects.filter(conversation_id__in=[c.pk for c in theirs]).exists()
    assert Message.objects.filter(conversation=someone_else).count() == kept
    assert Conversation.objects.filter(pk=elsewhere.json()["id"]).exists()  # another tenant's
    assert (erasure.conversations, erasure.messages > 0, erasure.files) == (2, True, 0)
    assert erasure.value_hash == erasure_hash("customer", "c-kim")
    assert "c-kim" not in str(Erasure.objects.values().get())


def test_a_web_visitor_is_erased_by_their_conversation_with_their_files_and_dropped_mail(
    tenant, team, key_client, django_capture_on_commit_callbacks
):
    conversation, _, photo = chat_with_a_photo()
    by_mail = opened(key_client, "kim-crm-1", email="kim@example.com")
    InboundEmail.objects.create(tenant=tenant, mail_id="<m1@x>", sender="kim@example.com")
    stored = photo.file.name
    assert default_storage.exists(stored)
    assert FileUsage.objects.get(tenant=tenant).bytes == len(PNG)

    with django_capture_on_commit_callbacks(execute=True):
        erasure = erase(tenant, "conversation", str(conversation.pk))

    # its customer: that chat, and the conversation with the address they left
    assert not Conversation.objects.filter(pk__in=[conversation.pk, by_mail.pk]).exists()
    assert not Attachment.objects.exists() and not default_storage.exists(stored)
    assert FileUsage.objects.get(tenant=tenant).bytes == 0
    assert not InboundEmail.objects.exists()
    assert (erasure.kind, erasure.conversations, erasure.files) == ("conversation", 2, 1)


def test_an_open_conversation_is_resolved_first_its_seat_freed_and_every_socket_told(
    key_client, team, online, ada, tenant, django_capture_on_commit_callbacks
):
    handoff = handed_over(key_client, customer="c-kim")
    handoff_claim(handoff=handoff, user=ada)
    conversation = Conversation.objects.get(pk=handoff.conversation_id)
    assert conversation.state == "with_human" and conversation.assignee == ada
    inbox = Listener(tenant_inbox_group(tenant.pk))

    with django_capture_on_commit_callbacks(execute=True):
        erase(tenant, "customer", "c-kim", by=Principal(user=ada))

    assert not Handoff.objects.filter(pk=handoff.pk).exists()
    assert not Conversation.objects.filter(assignee=ada).exists()  # her seat is free
    events = inbox.events()
    assert {"type": "conversation.updated", "conversationId": str(conversation.pk),
            "state": "resolved"} in events  # fmt: skip
    assert {"type": "conversation.erased", "conversationIds": [str(conversation.pk)]} in events


@pytest.mark.django_db(transaction=True)
def test_the_customers_open_chat_hears_it_and_closes_as_a_conversation_that_is_not_there(
    tenant, team
):
    conversation, started, _ = chat_with_a_photo()

    async def scenario():
        socket = WebsocketCommunicator(
            application,
            f"/ws/conversations/{conversation.pk}/?token={started['token']}",
            headers=[(b"origin", b"http://testserver")],
        )
        connected, _ = await socket.connect()
        assert connected
        snapshot = await socket.receive_json_from(timeout=5)
        assert snapshot["type"] == "conversation.snapshot"
        from channels.db import database_sync_to_async

        await database_sync_to_async(erase)(tenant, "conversation", str(conversation.pk))
        seen = []
        while True:
            output = await socket.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                return seen, output["code"]
            seen.append(output.get("text", ""))

    seen, code = async_to_sync(scenario)()

    assert code == 4404
    assert any('"conversation.erased"' in text for text in seen)


def test_it_is_refused_while_an_approval_of_theirs_waits_and_nothing_goes(key_client, team, tenant):
    conversation = opened(key_client, "c-kim")
    ApprovalRequest.objects.create(
        tenant=tenant,
        conversation=conversation,
        action="issue_refund",
        idempotency_key="k-1",
        requested_by_label="agent:agent-sup",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )

    with pytest.raises(ErasureRefused) as refused:
        erase(tenant, "customer", "c-kim")

    assert "still to be decided" in refused.value.message
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Erasure.objects.exists()
    response = key_client.post(
        "/api/v1/erasures", {"kind": "customer", "value": "c-kim"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "erasure_refused"


def test_a_turn_whose_conversation_was_erased_meanwhile_applies_nothing(key_client, team, tenant):
    conversation = opened(key_client, "c-kim")
    message = Message.objects.filter(conversation=conversation).first()
    erase(tenant, "customer", "c-kim")

    assert apply(conversation_id=conversation.pk, ai_turn=9, message=message, outcome=None) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "kind"),
        ({"kind": "phone", "value": "+44"}, "kind"),
        ({"kind": ["email"], "value": "kim@example.com"}, "kind"),
        ({"kind": "email"}, "value"),
        ({"kind": "email", "value": "not an address"}, "value"),
        ({"kind": "email", "value": ["kim@example.com"]}, "value"),
        ({"kind": "customer", "value": "c\x00kim"}, "value"),
        ({"kind": "customer", "value": "\ud800"}, "value"),
        ({"kind": "customer", "value": "x" * 201}, "value"),
        ({"kind": "conversation", "value": "not-a-uuid"}, "value"),
        ({"kind": "conversation", "value": "0b7f8e2e-3c2a-4b8e-9a3e-1f2d3c4b5a69"}, "value"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(key_client, team, body, field):
    # json.dumps writes a lone surrogate as its escape, as a hostile client would
    response = key_client.post(
        "/api/v1/erasures", json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == [field]
    assert not Erasure.objects.exists()


def test_only_managers_and_integrations_erase_and_another_tenants_conversation_is_nobody(
    key_client, team, tenant, globex, online, ada
):
    approver = make_person(tenant=tenant, roles=["approver"], username="rita")
    manager = make_person(tenant=tenant, roles=["manager"], username="max")
    theirs = opened(key_client, "c-kim")
    _, raw = make_api_key(tenant=globex)
    other = Client(headers={"Authorization": f"Bearer {raw}"})
    body = {"kind": "customer", "value": "c-kim"}

    for person in (ada, approver):
        assert as_person(person).post("/api/v1/erasures", body, format="json").status_code == 403
        assert as_person(person).get("/api/v1/erasures").status_code == 403
    across = other.post(
        "/api/v1/erasures",
        {"kind": "conversation", "value": str(theirs.pk)},
        content_type="application/json",
    )
    assert across.status_code == 400  # no conversation of globex's
    assert (
        other.post("/api/v1/erasures", body, content_type="application/json").json()[
            "conversations"
        ]
        == 0
    )  # globex has no c-kim
    assert Conversation.objects.filter(pk=theirs.pk).exists()

    done = as_person(manager).post("/api/v1/erasures", body, format="json")

    assert done.status_code == 201, done.json()
    assert (done.json()["conversations"], done.json()["erasedBy"]) == (1, "max")
    listed = as_person(manager).get("/api/v1/erasures").json()
    assert [e["id"] for e in listed] == [done.json()["id"]]  # not globex's
    assert other.get("/api/v1/erasures").json()[0]["conversations"] == 0


def test_the_admin_shows_what_would_go_and_erases_once_confirmed(
    key_client, team, tenant, manager_client
):
    opened(key_client, "c-kim", email="kim@example.com")
    url = reverse("admin:conversations_erasure_add")

    asked = manager_client.post(url, {"kind": "email", "value": "KIM@example.com"})
    assert asked.status_code == 200
    assert "This erases 1 conversation(s)" in asked.content.decode()
    assert Conversation.objects.filter(customer_ref="c-kim").exists()
    bad = manager_client.post(url, {"kind": "email", "value": "nope", "confirm": "on"})
    assert "must be an e-mail address" in bad.content.decode()

    done = manager_client.post(
        url, {"kind": "email", "value": "KIM@example.com", "confirm": "on"}, follow=True
    )

    assert "Erased 1 conversation(s)" in done.content.decode()
    assert not Conversation.objects.filter(customer_ref="c-kim").exists()
    erasure = Erasure.objects.get()
    assert erasure.value_hash == erasure_hash("email", "kim@example.com")
    change = reverse("admin:conversations_erasure_change", args=[erasure.pk])
    page = manager_client.get(change).content.decode()
    assert "kim@example.com" not in page and 'name="_save"' not in page
    delete = reverse("admin:conversations_erasure_delete", args=[erasure.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    assert Erasure.objects.exists()


def test_a_managers_conversation_page_leads_to_the_erasure_of_its_customer(
    key_client, team, tenant, online, ada, manager_client
):
    handoff = handed_over(key_client, customer="c-kim")
    handoff_claim(handoff=handoff, user=ada)
    page = f"/inbox/conversations/{handoff.conversation_id}/view"

    link = manager_client.get(page).content.decode()
    assert "Erase this customer" in link
    assert "Erase this customer" not in as_person(ada).get(page).content.decode()
    url = reverse("admin:conversations_erasure_add")
    start = f"{url}?kind=conversation&amp;value={handoff.conversation_id}"
    assert start in link

    form = manager_client.get(start.replace("&amp;", "&")).content.decode()
    assert f'value="{handoff.conversation_id}"' in form
    assert '<option value="conversation" selected>' in form
    export = (
        f"/api/v1/customer-data?kind=conversation&amp;value={handoff.conversation_id}"
        "&amp;download=1"
    )
    assert (
        export in link and "Download this customer" not in as_person(ada).get(page).content.decode()
    )
    downloaded = manager_client.get(export.replace("&amp;", "&"))
    assert downloaded.status_code == 200
    assert downloaded.json()["conversations"][0]["id"] == str(handoff.conversation_id)


# --- the export: what is kept about them, to send them ----------------------------------------


def test_the_export_holds_every_conversation_of_theirs_with_messages_notes_approvals_rating(
    key_client, team, tenant, globex, online, ada, django_assert_num_queries
):
    from handover.models import CsatRating, TranscriptMail
    from handover.services import note_post
    from orchestration.customer_export import customer_export

    first = opened(key_client, "c-kim", email="kim@example.com")
    handoff = handed_over(key_client, customer="c-kim")
    handoff_claim(handoff=handoff, user=ada)
    note_post(conversation=handoff.conversation, user=ada, text="Kim prefers e-mail.")
    ApprovalRequest.objects.create(
        tenant=tenant,
        conversation=first,
        action="issue_refund",
        params={"amount": 40},
        idempotency_key="k-1",
        requested_by_label="agent:agent-sup",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    CsatRating.objects.create(tenant=tenant, conversation=first, score=4)
    TranscriptMail.objects.create(
        tenant=tenant, conversation=first, to="kim@example.com", by=ada, by_name="Ada"
    )
    opened(key_client, "c-lee")

    with django_assert_num_queries(5):  # whatever the number of conversations
        exported = customer_export(tenant_id=tenant.pk, kind="customer", value="c-kim")

    assert [c["id"] for c in exported["conversations"]] == [
        str(first.pk),
        str(handoff.conversation_id),
    ]
    one, two = exported["conversations"]
    assert one["customer"]["email"] == "kim@example.com"
    assert "Where is my parcel?" in [m["text"] for m in one["messages"]]
    assert one["approvals"] == [
        {
            "action": "issue_refund",
            "params": {"amount": 40},
            "status": "pending",
            "createdAt": one["approvals"][0]["createdAt"],
            "decidedAt": None,
        }
    ]
    assert (one["rating"], two["rating"]) == ({"score": 4, "comment": ""}, None)
    assert one["copies"] == [
        {
            "to": "kim@example.com",
            "askedBy": "Ada",
            "createdAt": one["copies"][0]["createdAt"],
            "sentAt": None,
        }
    ]
    assert two["copies"] == []
    assert "Kim prefers e-mail." in [m["text"] for m in two["messages"] if m["role"] == "note"]
    assert exported["truncated"] is False


def test_the_export_door_is_a_managers_or_an_integrations_and_keeps_to_the_tenant(
    key_client, team, tenant, globex, online, ada
):
    conversation, _, photo = chat_with_a_photo()
    url = f"/api/v1/customer-data?kind=conversation&value={conversation.pk}"
    _, raw = make_api_key(tenant=globex)
    other = Client(headers={"Authorization": f"Bearer {raw}"})

    got = key_client.get(url + "&download=1")

    assert got.status_code == 200, got.json()
    assert got["Content-Disposition"].startswith('attachment; filename="customer-data-')
    (only,) = got.json()["conversations"]
    (sent,) = [m for m in only["messages"] if m.get("attachments")]
    link = sent["attachments"][0]["url"]
    assert b"".join(Client().get(link).streaming_content) == PNG
    assert as_person(ada).get(url).status_code == 403
    assert other.get(url).status_code == 400  # not a conversation of globex's
    assert key_client.get("/api/v1/customer-data?kind=email&value=%00").status_code == 400
    bad = key_client.get("/api/v1/customer-data?kind=email&value=nope")
    assert bad.status_code == 400 and list(bad.json()["error"]["fields"]) == ["value"]
    missing = key_client.get("/api/v1/customer-data")
    assert missing.status_code == 400 and list(missing.json()["error"]["fields"]) == ["kind"]
    assert photo.filename == "heel.png"
