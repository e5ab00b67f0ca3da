"""A copy of a conversation by e-mail (handover/transcripts.py): a person in the inbox sends the
customer what was said, as the customer saw it (never a note), from the tenant; once, whatever
the workers do; a mail server that refuses is tried again and, after the last attempt, told to
the colleagues; bad addresses, too many copies, other tenants and other roles refused."""

from __future__ import annotations

import socket

import pytest
from django.core import mail

from conversations.messages import message_post
from conversations.models import Conversation, Message, MessageRole
from core.models import OutboxEvent
from handover.models import TranscriptMail
from handover.transcripts import (
    TASK_NAME,
    TRANSCRIPT_ATTEMPTS,
    TRANSCRIPTS_AN_HOUR,
    transcript_request,
    transcript_send,
)
from tests.factories import make_person
from tests.handover.test_agent_tools import HUMAN_PLEASE, as_person, handed_over

pytestmark = pytest.mark.django_db


def notes(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, role=MessageRole.NOTE)
        .order_by("id")
        .values_list("text", flat=True)
    )


def delivered() -> int:
    """Run the copies' task for those not sent yet, as a worker would (on the embedded default
    the outbox ran it already at commit; with a broker it is queued there): how many it sent."""
    return sum(
        transcript_send(pk)
        for pk in TranscriptMail.objects.filter(sent_at=None).values_list("pk", flat=True)
    )


def send(person, conversation, to=None):
    body = {} if to is None else {"to": to}
    return as_person(person).post(
        f"/inbox/conversations/{conversation.pk}/transcript", body, content_type="application/json"
    )


@pytest.fixture
def kims(key_client, team, online, ada):
    conversation = handed_over(key_client, customer="web-kim").conversation
    Conversation.objects.filter(pk=conversation.pk).update(
        customer_name="Kim Lee", customer_email="kim@example.com"
    )
    conversation.refresh_from_db()
    message_post(
        conversation=conversation, role=MessageRole.NOTE, author="Ada", text="VIP, be nice"
    )
    message_post(
        conversation=conversation,
        role=MessageRole.HUMAN,
        author="Ada",
        text="Hello Kim, I am on it.",
    )
    return conversation


def test_a_person_emails_the_customer_what_they_saw_and_never_a_note(
    kims, ada, tenant, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = send(ada, kims)

    assert sent.status_code == 202, sent.json()
    assert sent.json() == {"to": "kim@example.com"}
    delivered()
    (copy,) = mail.outbox
    assert copy.to == ["kim@example.com"]
    assert copy.subject.startswith(f"Your conversation with {tenant.name} (")
    assert tenant.name in copy.from_email
    assert copy.body.startswith("Hello Kim Lee,\n\nHere is a copy of your conversation with")
    assert "Kim Lee, " in copy.body and HUMAN_PLEASE in copy.body  # the customer's
    assert f"Ada · {tenant.name} team, " in copy.body  # the person's, named as in the chat
    assert "Hello Kim, I am on it." in copy.body
    assert "VIP!" not in copy.body  # a colleague's note
    assert "e-mailed a copy" not in copy.body  # nor the note of this copy
    assert notes(kims)[-1] == "Ada e-mailed a copy of this conversation to kim@example.com."
    (row,) = TranscriptMail.objects.all()
    assert (row.to, row.by, row.attempts, row.sent_at is not None) == (
        "kim@example.com",
        ada,
        1,
        True,
    )
    assert transcript_send(row.pk) is False  # a second delivery of the task sends nothing
    assert len(mail.outbox) == 1


def test_another_address_and_the_files_names(kims, ada, django_capture_on_commit_callbacks):
    Message.objects.filter(conversation=kims, role=MessageRole.HUMAN).update(
        attachments=[{"id": "x", "filename": "label.pdf", "contentType": "application/pdf"}]
    )
    with django_capture_on_commit_callbacks(execute=True):
        sent = send(ada, kims, to="  kim.lee@work.example ")

    assert sent.status_code == 202 and sent.json() == {"to": "kim.lee@work.example"}
    delivered()
    (copy,) = mail.outbox
    assert copy.to == ["kim.lee@work.example"]
    assert "[file: label.pdf]" in copy.body


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ("not an address", "must be an e-mail address"),
        ("kim@example.com\x00", "contains a NUL character"),
        ("\ud800@example.com", "contains a lone surrogate"),
        ("k" * 250 + "@x.io", "must be an e-mail address"),
        (["kim@example.com"], "must be an e-mail address"),
        (7, "must be an e-mail address"),
    ],
)
def test_a_bad_address_is_refused_naming_it_and_nothing_is_sent(kims, ada, to, why):
    refused = send(ada, kims, to=to)

    assert refused.status_code == 400, refused.content
    (reason,) = refused.json()["error"]["fields"]["to"]
    assert reason.startswith(why)
    assert not TranscriptMail.objects.exists() and not mail.outbox
    assert not OutboxEvent.objects.filter(payload__task=TASK_NAME).exists()


def test_no_address_known_and_none_given_is_refused(key_client, team, online, ada):
    conversation = handed_over(key_client, customer="web-lee").conversation

    refused = send(ada, conversation)

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["to"] == [
        "the customer gave no e-mail address: give one"
    ]


def test_a_conversation_takes_a_few_copies_an_hour(kims, ada):
    for _ in range(TRANSCRIPTS_AN_HOUR):
        assert send(ada, kims).status_code == 202

    refused = send(ada, kims, to="else@example.com")

    assert refused.status_code == 400
    assert "try again later" in refused.json()["error"]["fields"]["to"][0]
    assert TranscriptMail.objects.count() == TRANSCRIPTS_AN_HOUR


def test_tenants_and_roles_apart(kims, ada, tenant, other_tenant, key_client):
    eve = make_person(tenant=other_tenant, roles=["agent"], username="eve")
    assert send(eve, kims).status_code == 404
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    assert send(approver, kims).status_code == 403
    quiet = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-q", "email": "q@x.io"}},
        format="json",
    ).json()
    assert send(ada, Conversation.objects.get(pk=quiet["id"])).status_code == 404  # not handed
    assert not TranscriptMail.objects.exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed once the block ends: nothing listens there


def test_a_refusing_mail_server_is_tried_again_then_told_to_the_colleagues(kims, ada, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _closed_port()
    settings.EMAIL_TIMEOUT = 2
    row = transcript_request(conversation=kims, to=None, user=ada)

    for attempt in range(1, TRANSCRIPT_ATTEMPTS):
        with pytest.raises(OSError):
            transcript_send(row.pk)
        row.refresh_from_db()
        assert (row.attempts, row.sending_at, row.sent_at) == (attempt, None, None)  # given back
        assert "ConnectionRefusedError" in row.error

    assert transcript_send(row.pk) is False  # the last attempt: no more retries
    row.refresh_from_db()
    assert row.failed_at is not None and row.attempts == TRANSCRIPT_ATTEMPTS
    assert notes(kims)[-1].startswith(
        f"The copy of this conversation for kim@example.com could not be sent "
        f"({TRANSCRIPT_ATTEMPTS} attempts; the mail server said: ConnectionRefusedError"
    )
    assert transcript_send(row.pk) is False  # failed for good: nothing more
    assert TranscriptMail.objects.get(pk=row.pk).attempts == TRANSCRIPT_ATTEMPTS


def test_a_worker_killed_mid_send_leaves_the_copy_to_be_sent_once_its_mark_expires(
    kims, ada, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone

    from handover.transcripts import SENDING_LEASE

    row = transcript_request(conversation=kims, to=None, user=ada)
    taken = timezone.now() - dt.timedelta(seconds=10)
    TranscriptMail.objects.filter(pk=row.pk).update(sending_at=taken, attempts=1)  # it died

    assert transcript_send(row.pk) is False  # delivered again: the mark is still held
    (again,) = OutboxEvent.objects.filter(payload__task=TASK_NAME).order_by("-id")[:1]
    assert again.payload["args"] == [row.pk]
    assert SENDING_LEASE.total_seconds() - 20 < again.payload["countdown"] <= 300
    assert not mail.outbox

    TranscriptMail.objects.filter(pk=row.pk).update(sending_at=taken - SENDING_LEASE)  # expired
    assert transcript_send(row.pk) is True
    assert len(mail.outbox) == 1
    before = OutboxEvent.objects.filter(payload__task=TASK_NAME).count()
    assert transcript_send(row.pk) is False  # sent: nothing, and no more looking again
    assert OutboxEvent.objects.filter(payload__task=TASK_NAME).count() == before


# --- the web chat's customer asks for a copy ---------------------------------------------------


def ask(conversation, token, email, *, slug="acme", address="198.51.100.20", client=None):
    from django.test import Client

    return (client or Client(REMOTE_ADDR=address)).post(
        f"/chat/{slug}/transcript",
        {"conversationId": str(conversation.pk), "token": token, "email": email},
        content_type="application/json",
    )


def test_the_chats_customer_gets_a_copy_at_their_address(
    resolved,
    django_capture_on_commit_callbacks,
):
    conversation, token = resolved

    with django_capture_on_commit_callbacks(execute=True):
        asked = ask(conversation, token, " kim@example.com ")

    assert asked.status_code == 202, asked.content
    assert asked.json() == {"email": "kim@example.com"}
    delivered()
    (copy,) = mail.outbox
    assert copy.to == ["kim@example.com"] and "I want a human please" in copy.body
    (row,) = TranscriptMail.objects.all()
    assert (row.by, row.by_name, row.sent_at is not None) == (None, "the customer", True)
    assert notes(conversation)[-1] == (
        "The customer asked for a copy of this conversation at kim@example.com."
    )


@pytest.mark.parametrize(
    ("email", "status", "why"),
    [
        ("", 400, "give your e-mail address"),
        (None, 400, "give your e-mail address"),
        (["kim@example.com"], 400, "give your e-mail address"),
        ("kim@", 400, "must be an e-mail address"),
        ("kim@example.com\x00", 400, "contains a NUL character"),
    ],
)
def test_a_bad_address_from_the_chat_is_refused_naming_email(resolved, email, status, why):
    conversation, token = resolved

    refused = ask(conversation, token, email)

    assert refused.status_code == status, refused.content
    assert refused.json()["error"]["fields"]["email"][0].startswith(why)
    assert not TranscriptMail.objects.exists()


def test_only_the_tokens_holder_of_a_web_chat_in_this_tenant(resolved, other_tenant, key_client):
    from django.test import Client

    conversation, token = resolved
    assert ask(conversation, "not-the-token", "kim@example.com").status_code == 404
    assert ask(conversation, token, "kim@example.com", slug=other_tenant.slug).status_code == 404
    csrf = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.21")
    assert ask(conversation, token, "kim@example.com", client=csrf).status_code == 403
    assert not TranscriptMail.objects.exists()


def test_one_address_asks_for_a_few_copies_at_the_most(resolved, settings):
    conversation, token = resolved
    settings.CHAT_TRANSCRIPT_RATE_LIMIT = "2/hour"
    address = "198.51.100.99"

    typo = ask(conversation, token, "kim@", address=address)  # a typo is not counted
    first = ask(conversation, token, "kim@example.com", address=address)
    second = ask(conversation, token, "kim@example.com", address=address)
    third = ask(conversation, token, "kim@example.com", address=address)

    assert [typo.status_code, first.status_code, second.status_code] == [400, 202, 202]
    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert TranscriptMail.objects.count() == 2


# --- the API: an integration or a person sends a copy, and lists where the copies stand -------


def copies_url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/copies"


def test_an_integration_emails_a_copy_over_the_api_and_lists_where_it_stands(
    kims, key_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        asked = key_client.post(copies_url(kims), {}, format="json")
        elsewhere = key_client.post(copies_url(kims), {"to": "desk@example.com"}, format="json")
    delivered()

    assert asked.status_code == 202, asked.content
    body = asked.json()
    assert (body["to"], body["askedBy"]) == ("kim@example.com", "The integration “integration”")
    assert body["status"] in ("waiting", "sent")
    assert sorted(m.to[0] for m in mail.outbox) == ["desk@example.com", "kim@example.com"]
    assert "VIP" not in mail.outbox[0].body  # never a note
    assert notes(kims)[-2:] == [
        "The integration “integration” e-mailed a copy of this conversation to kim@example.com.",
        "The integration “integration” e-mailed a copy of this conversation to desk@example.com.",
    ]
    listed = key_client.get(copies_url(kims)).json()
    assert [c["id"] for c in listed] == [elsewhere.json()["id"], body["id"]]  # newest first
    assert [c["status"] for c in listed] == ["sent", "sent"]
    assert all(c["sentAt"] and c["attempts"] == 1 and c["error"] == "" for c in listed)


@pytest.mark.parametrize(
    "body",
    [{"to": "not an address"}, {"to": 42}, {"to": ["a@b.co"]}, {"to": "a@b.co\x00"}],
)
def test_a_bad_copy_request_is_a_400_naming_to_and_nothing_is_sent(kims, key_client, body):
    refused = key_client.post(copies_url(kims), body, format="json")

    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == ["to"]
    assert not TranscriptMail.objects.exists()


def test_a_list_body_is_refused_and_not_taken_for_the_customers_address(kims, key_client):
    refused = key_client.post(copies_url(kims), ["kim@example.com"], format="json")

    assert refused.status_code == 400
    assert not TranscriptMail.objects.exists()


def test_copies_over_the_api_keep_tenants_and_roles_apart(
    kims, ada, tenant, other_tenant, key_client
):
    from rest_framework.test import APIClient

    from tests.factories import make_api_key

    _, raw = make_api_key(tenant=other_tenant)
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert theirs.post(copies_url(kims), {}, format="json").status_code == 404
    assert theirs.get(copies_url(kims)).status_code == 404
    approver = make_person(tenant=tenant, roles=["approver"], username="appr")
    assert as_person(approver).post(copies_url(kims), {}).status_code == 403
    quiet = key_client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-q", "email": "q@x.io"}},
        format="json",
    ).json()
    not_handed = Conversation.objects.get(pk=quiet["id"])
    assert as_person(ada).post(copies_url(not_handed), {}).status_code == 404
    assert not TranscriptMail.objects.exists()
    # the human agent who reads it sends one, in their own name
    sent = as_person(ada).post(copies_url(kims), {}, content_type="application/json")
    assert sent.status_code == 202
    assert sent.json()["askedBy"] == as_person_name(ada)


def as_person_name(person) -> str:
    return person.get_full_name() or person.get_username()
