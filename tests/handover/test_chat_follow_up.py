"""A web chat's customer who must wait for a person leaves their e-mail address: a person's
replies then reach them by e-mail whenever they are not in the chat (not while a socket of
theirs is open), and their answer by e-mail comes back into the same conversation."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from conversations.customer_presence import customer_here, customer_joined, customer_left
from conversations.models import Conversation, EmailStatus, Message
from handover.models import Handoff
from handover.services import handoff_claim, human_send_message
from orchestration.turns import conversation_receive_message
from tests.factories import TenantFactory, make_person, make_team
from tests.handover.test_chat_embed import _config
from tests.handover.test_email_channel import captured, channel, form, take  # noqa: F401

pytestmark = pytest.mark.django_db

OURS = {"Origin": "http://testserver"}


def _start(slug="acme", text="I want to talk to a human please"):
    response = Client().post(
        f"/chat/{slug}/start", {"text": text}, content_type="application/json", headers=OURS
    )
    assert response.status_code == 201, response.content
    return response.json()


def _leave(started, email, slug="acme", **overrides):
    body = {"conversationId": started["conversationId"], "token": started["token"], "email": email}
    return Client().post(
        f"/chat/{slug}/email", {**body, **overrides}, content_type="application/json", headers=OURS
    )


def _claimed(tenant, started):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada", first_name="Ada")
    conversation = Conversation.objects.get(pk=started["conversationId"])
    handoff_claim(handoff=Handoff.objects.get(conversation=conversation), user=ada)
    return ada, conversation


def test_the_customer_leaves_an_address_and_the_team_is_told(team, tenant):
    started = _start(text="My parcel never came")
    _start(text="I want to talk to a human please")  # someone else's chat

    response = _leave(started, "kim@example.com")

    assert response.status_code == 200 and response.json() == {"email": "kim@example.com"}
    conversation = Conversation.objects.get(pk=started["conversationId"])
    assert conversation.customer_email == "kim@example.com"
    assert conversation.email_follow_up
    assert conversation.email_subject == "My parcel never came"
    note = Message.objects.get(conversation=conversation, role="note")
    assert "kim@example.com" in note.text
    assert Conversation.objects.filter(email_follow_up=True).count() == 1


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"email": "not an address"}, 400, "email"),
        ({"email": "kim@example.com\x00"}, 400, "email"),
        ({"email": "a" * 250 + "@example.com"}, 400, "email"),
        ({"email": ["kim@example.com"]}, 400, "email"),
        ({"token": "ct_nope"}, 404, None),
        ({"conversationId": "00000000-0000-0000-0000-000000000000"}, 404, None),
        ({"conversationId": "not-a-uuid"}, 404, None),
    ],
)
def test_a_bad_request_is_refused_and_changes_nothing(team, tenant, change, status, field):
    started = _start()

    response = _leave(started, **{"email": "kim@example.com", **change})

    assert response.status_code == status
    if field:
        assert list(response.json()["error"]["fields"]) == [field]
    assert not Conversation.objects.get(pk=started["conversationId"]).email_follow_up


def test_another_tenants_chat_cannot_set_the_address(team, tenant):
    other = TenantFactory(slug="globex", name="Globex")
    make_team(other)
    started = _start()

    response = _leave(started, "kim@example.com", slug="globex")

    assert response.status_code == 404
    assert not Conversation.objects.get(pk=started["conversationId"]).email_follow_up


def test_a_foreign_page_cannot_set_the_address(team, tenant):
    started = _start()
    body = {**started, "email": "evil@example.com"}

    response = Client(enforce_csrf_checks=True).post(
        "/chat/acme/email",
        body,
        content_type="application/json",
        headers={"Origin": "https://evil.example"},
    )

    assert response.status_code == 403
    assert Conversation.objects.get(pk=started["conversationId"]).customer_email == ""


def test_a_persons_reply_is_emailed_only_while_the_customer_is_away(team, tenant, captured):  # noqa: F811
    started = _start(text="My parcel never came, I want a person")
    ada, conversation = _claimed(tenant, started)
    with captured(execute=True):
        before = human_send_message(conversation=conversation, user=ada, text="Hi, Ada here.")
    assert _leave(started, "kim@example.com").status_code == 200
    conversation.refresh_from_db()

    customer_joined(conversation.pk)  # the chat is open: they read it there
    with captured(execute=True):
        seen = human_send_message(conversation=conversation, user=ada, text="Checking now.")
    customer_left(conversation.pk)
    with captured(execute=True):
        away = human_send_message(
            conversation=conversation, user=ada, text="Found it: it arrives tomorrow."
        )

    assert before.email_message_id == ""  # no address yet: nothing queued
    kept = Message.objects.get(pk=seen.pk)
    assert (kept.email_status, kept.email_message_id) == (EmailStatus.NONE, "")
    assert Message.objects.get(pk=away.pk).email_status == EmailStatus.SENT
    (sent,) = mail.outbox
    assert sent.to == ["kim@example.com"]
    assert sent.subject == "Re: My parcel never came, I want a person"
    assert sent.body.startswith("Found it: it arrives tomorrow.")
    # no e-mail channel: an answer by e-mail would not come back, so the mail does not ask
    assert sent.body.endswith(f"Go back to the chat to answer: {settings.SITE_URL}/chat/acme/")
    assert "Reply to this e-mail" not in sent.body
    assert sent.extra_headers["Message-ID"] == away.email_message_id


def test_the_ai_and_the_notices_are_never_emailed_to_a_web_customer(team, tenant, captured):  # noqa: F811
    started = _start(text="Hello there")
    assert _leave(started, "kim@example.com").status_code == 200
    conversation = Conversation.objects.get(pk=started["conversationId"])

    with captured(execute=True):  # the AI answers, then hands over with a notice: chat only
        conversation_receive_message(conversation=conversation, text="Where is my parcel?")
        conversation_receive_message(conversation=conversation, text="I want a human please")

    assert Message.objects.filter(conversation=conversation, role__in=["agent", "system"]).count()
    assert mail.outbox == []


def _emailed_reply(tenant, on_commit):
    """A claimed web chat whose customer left kim@example.com, and a person's reply e-mailed
    to it (the customer is not in the chat)."""
    started = _start(text="My parcel never came, I want a person")
    ada, conversation = _claimed(tenant, started)
    assert _leave(started, "kim@example.com").status_code == 200
    conversation.refresh_from_db()
    with on_commit(execute=True):
        ours = human_send_message(conversation=conversation, user=ada, text="Which order?")
    assert ours.email_message_id
    return conversation, ours


def test_the_customers_answer_by_email_comes_back_into_the_chat(
    team,
    tenant,
    channel,  # noqa: F811
    captured,  # noqa: F811
):
    conversation, ours = _emailed_reply(tenant, captured)
    (sent,) = mail.outbox
    assert "Reply to this e-mail, or go back to the chat to answer:" in sent.body

    response = take(
        channel,
        captured,
        form(
            "Order A-12345.",
            sender="Kim <kim@example.com>",
            subject="Re: My parcel never came, I want a person",
            mail_id="<k1@mail.example.com>",
            in_reply_to=ours.email_message_id,
        ),
    )

    assert response.status_code == 201, response.json()
    assert response.json()["conversationId"] == str(conversation.pk)
    assert response.json()["matchedBy"] == "thread"
    answer = Message.objects.get(pk=response.json()["messageId"])
    assert (answer.role, answer.text) == ("customer", "Order A-12345.")


def test_a_stranger_answering_the_thread_does_not_get_in(team, tenant, channel, captured):  # noqa: F811
    conversation, ours = _emailed_reply(tenant, captured)

    response = take(
        channel,
        captured,
        form("Let me in", sender="mallory@example.com", in_reply_to=ours.email_message_id),
    )

    assert response.json()["conversationId"] != str(conversation.pk)


def test_the_chat_socket_counts_the_customer_in_and_out(team, tenant):
    conversation_id = _start()["conversationId"]

    assert not customer_here(conversation_id)
    customer_joined(conversation_id)
    customer_joined(conversation_id)  # a second tab
    customer_left(conversation_id)
    assert customer_here(conversation_id)
    customer_left(conversation_id)
    assert not customer_here(conversation_id)
    customer_left(conversation_id)  # one too many: still nobody, no error
    assert not customer_here(conversation_id)


def _start_with(body: dict, slug="acme"):
    return Client().post(f"/chat/{slug}/start", body, content_type="application/json", headers=OURS)


def test_the_chat_asks_for_the_address_at_the_start_when_the_tenant_wants_it(team, tenant):
    assert 'id="start-email"' not in Client().get("/chat/acme/").content.decode()  # by default

    tenant.chat_ask_email = "required"
    tenant.save()
    page = Client().get("/chat/acme/")
    field = page.content.decode().split('<div id="start-email-field">')[1].split("</div>")[0]
    assert "required" in field and "(optional)" not in field
    assert _config(page)["askEmail"] == "required"
    missing = _start_with({"text": "My parcel never came"})
    assert missing.status_code == 400
    assert missing.json()["error"]["fields"] == {
        "email": ["Give your e-mail address: we answer there if you are away."]
    }
    assert not Conversation.objects.exists()  # nothing written

    started = _start_with({"text": "My parcel never came", "email": " kim@example.com "})

    assert started.status_code == 201
    conversation = Conversation.objects.get(pk=started.json()["conversationId"])
    assert conversation.customer_email == "kim@example.com" and conversation.email_follow_up
    assert conversation.email_subject == "My parcel never came"  # from the first message
    assert "kim@example.com" in Message.objects.get(conversation=conversation, role="note").text


@pytest.mark.parametrize("bad", ["not an address", "kim@example.com\x00", ["kim@example.com"], 7])
def test_a_bad_address_at_the_start_is_a_400_naming_it_and_nothing_starts(team, tenant, bad):
    tenant.chat_ask_email = "optional"
    tenant.save()

    refused = _start_with({"text": "Hello", "email": bad})

    assert refused.status_code == 400
    (why,) = refused.json()["error"]["fields"]["email"]  # the address named, with why
    assert why.startswith(("must be an e-mail address", "contains a NUL character"))
    assert not Conversation.objects.exists()


def test_an_optional_address_may_be_left_out(team, tenant):
    tenant.chat_ask_email = "optional"
    tenant.save()
    page = Client().get("/chat/acme/").content.decode()
    field = page.split('<div id="start-email-field">')[1].split("</div>")[0]
    assert "(optional)" in field and " required" not in field

    started = _start_with({"text": "Hello", "email": "  "})

    assert started.status_code == 201
    conversation = Conversation.objects.get(pk=started.json()["conversationId"])
    assert conversation.customer_email == "" and not conversation.email_follow_up
