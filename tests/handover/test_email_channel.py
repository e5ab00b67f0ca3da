"""The e-mail channel both ways (issue 19, point 8): every reply to an e-mail customer leaves
through the outbox, threaded; the customer's mails come in through the signed inbound-parse
endpoint into the same conversation; one consistent thing told on a handover."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
from unittest import mock

import pytest
from django.core import mail
from django.test import Client
from django.test.client import BOUNDARY, encode_multipart
from django.utils import timezone

from conversations.email import EMAIL_MAX_ATTEMPTS, email_channel_setup
from conversations.models import (
    Attachment,
    Conversation,
    DecisionEvent,
    EmailStatus,
    InboundEmail,
    Message,
)
from core.models import OutboxEvent
from core.outbox import outbox_sweep
from handover.models import Handoff
from handover.services import handoff_claim, human_send_message
from orchestration.activity import activity_of
from orchestration.email_inbound import strip_quoted
from tests.factories import make_team

pytestmark = pytest.mark.django_db

FORM = f"multipart/form-data; boundary={BOUNDARY}"  # a raw body, as the provider sends it


@pytest.fixture
def channel(tenant, team):
    channel, secret = email_channel_setup(
        tenant=tenant, from_address="help@acme.example", from_name="Acme support"
    )
    return channel, secret


def signed(secret: str, body: bytes, *, at: int | None = None, delivery: str = "msg_1") -> dict:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(key, f"{delivery}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": delivery,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{base64.b64encode(digest).decode()}",
    }


def form(
    text="Hello, my invoice for order A-12345 is wrong.",
    *,
    sender="Kim Doe <kim@example.com>",
    subject="Invoice question",
    mail_id="<c1@mail.example.com>",
    in_reply_to="",
    references="",
    extra_headers="",
) -> dict:
    headers = f"Message-ID: {mail_id}\nFrom: {sender}\nSubject: {subject}\n"
    if in_reply_to:
        headers += f"In-Reply-To: {in_reply_to}\n"
    if references:
        headers += f"References: {references}\n"
    return {
        "from": sender,
        "to": "help@acme.example",
        "subject": subject,
        "text": text,
        "headers": headers + extra_headers,
    }


def post(channel_secret, data: dict, *, secret: str | None = None, token=None, headers=None):
    channel, own_secret = channel_secret
    body = encode_multipart(BOUNDARY, data)
    sign = signed(secret or own_secret, body) if headers is None else headers
    return Client().post(
        f"/email/inbound/{token or channel.inbound_token}",
        data=body,
        content_type=FORM,
        headers=sign,
    )


def take(channel_secret, captured, data: dict, **kwargs):
    with captured(execute=True):
        response = post(channel_secret, data, **kwargs)
    return response


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


@pytest.fixture
def captured(django_capture_on_commit_callbacks, eager_tasks):
    return django_capture_on_commit_callbacks


# --- inbound ---------------------------------------------------------------------------------


def test_a_signed_mail_starts_an_email_conversation_and_the_ai_answers_by_email(channel, captured):
    response = take(channel, captured, form())

    assert response.status_code == 201, response.json()
    conversation = Conversation.objects.get(pk=response.json()["conversationId"])
    assert (conversation.channel, conversation.customer_email) == ("email", "kim@example.com")
    assert conversation.customer_name == "Kim Doe"
    assert conversation.email_subject == "Invoice question"
    customer = Message.objects.get(pk=response.json()["messageId"])
    assert customer.text == "Hello, my invoice for order A-12345 is wrong."
    assert customer.email_message_id == "<c1@mail.example.com>"
    replies = Message.objects.filter(conversation=conversation).exclude(role="customer")
    assert replies.exists()
    sent = mails_to("kim@example.com")
    assert len(sent) == replies.count()
    first = sent[0]
    assert first.subject == "Re: Invoice question"
    assert first.from_email == "Acme support <help@acme.example>"
    assert first.extra_headers["In-Reply-To"] == "<c1@mail.example.com>"
    assert first.extra_headers["References"].split()[0] == "<c1@mail.example.com>"
    assert first.extra_headers["Message-ID"] == replies.first().email_message_id
    assert replies.first().email_message_id.endswith("@acme.example>")
    assert set(replies.values_list("email_status", flat=True)) == {EmailStatus.SENT}
    # through the outbox: one task row per reply, relayed
    rows = OutboxEvent.objects.filter(payload__task="conversations.send_email")
    assert rows.count() == replies.count()
    assert not rows.filter(relayed_at__isnull=True).exists()


def test_the_same_mail_posted_twice_is_taken_once(channel, captured):
    first = take(channel, captured, form())
    again = take(channel, captured, form())

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["conversationId"] == first.json()["conversationId"]
    assert Message.objects.filter(role="customer").count() == 1
    assert InboundEmail.objects.count() == 1


def test_unsigned_badly_signed_and_stale_posts_are_refused(channel, captured):
    data = form()
    unsigned = post(channel, data, headers={})
    wrong = post(channel, data, secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    body = encode_multipart(BOUNDARY, data)
    stale = Client().post(
        f"/email/inbound/{channel[0].inbound_token}",
        data=body,
        content_type=FORM,
        headers=signed(channel[1], body, at=int(time.time()) - 3600),
    )
    tampered_headers = signed(channel[1], body)
    tampered = Client().post(
        f"/email/inbound/{channel[0].inbound_token}",
        data=body.replace(b"invoice", b"INVOICE"),
        content_type=FORM,
        headers=tampered_headers,
    )

    for response in (unsigned, wrong, stale, tampered):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "bad_signature"
    assert "more than" in stale.json()["error"]["message"]
    assert not Conversation.objects.exists()
    assert post(channel, data, token="nope").status_code == 404


def test_another_tenants_secret_is_refused_at_this_tenants_address(channel, other_tenant, captured):
    make_team(other_tenant, specialists=())
    _, other_secret = email_channel_setup(tenant=other_tenant)

    response = post(channel, form(), secret=other_secret)

    assert response.status_code == 401
    assert not Conversation.objects.exists()


def test_a_reply_to_another_tenants_thread_does_not_open_it(channel, other_tenant, captured):
    make_team(other_tenant, specialists=())
    other = email_channel_setup(tenant=other_tenant)
    theirs = take(other, captured, form(mail_id="<theirs@mail.example.com>"))
    their_reply = Message.objects.filter(conversation_id=theirs.json()["conversationId"]).exclude(
        role="customer"
    )[0]

    ours = take(
        channel,
        captured,
        form(mail_id="<c9@mail.example.com>", in_reply_to=their_reply.email_message_id),
    )

    assert ours.status_code == 201
    assert ours.json()["conversationId"] != theirs.json()["conversationId"]
    assert ours.json()["matchedBy"] == "new"
    conversation = Conversation.objects.get(pk=ours.json()["conversationId"])
    assert conversation.tenant_id == channel[0].tenant_id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": "not an address"}, "from"),
        ({"headers": "Subject: no id\n"}, "headers"),
        ({"text": "   "}, "text"),
        ({"text": "> only a quote\n> of the last mail"}, "text"),
    ],
)
def test_a_malformed_mail_is_400_with_the_field_and_the_reason(channel, change, field):
    response = post(channel, {**form(), **change})

    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["fields"]
    assert error["fields"][field][0]
    assert not Conversation.objects.exists()


def test_an_out_of_office_is_not_answered(channel, captured):
    response = take(channel, captured, form(extra_headers="Auto-Submitted: auto-replied\n"))

    assert response.status_code == 200
    assert "ignored" in response.json()
    assert not Conversation.objects.exists()
    assert mail.outbox == []


def test_a_subject_on_several_lines_goes_out_on_one(channel, captured):
    response = take(channel, captured, form(subject="Invoice\r\nBcc: evil@example.com"))

    assert response.status_code == 201
    sent = mails_to("kim@example.com")
    assert sent and sent[0].subject == "Re: Invoice Bcc: evil@example.com"
    assert all(m.bcc == [] for m in mail.outbox)


def test_quoted_text_and_signatures_are_cut():
    text = (
        "Yes, please refund it.\n\nThanks\n-- \nKim\n\nOn Tue, 1 Dec 2026 at 10:00, Acme "
        "<help@acme.example> wrote:\n> We can refund 49 EUR.\n"
    )
    assert strip_quoted(text) == "Yes, please refund it.\n\nThanks"
    outlook = "Fine by me.\r\n\r\nFrom: Acme support\r\nSent: Tuesday\r\nSubject: Re: x\r\n"
    assert strip_quoted(outlook) == "Fine by me."
    split = (
        "Sounds good.\n\nOn Tue, 1 Dec 2026 at 10:00, Acme support\n"
        "<help@acme.example> wrote:\n> old"
    )
    assert strip_quoted(split) == "Sounds good."


# --- the round trip, a person, and one thing told ---------------------------------------------


def test_round_trip_mail_in_ai_and_person_reply_out_and_the_answers_land_in_one_conversation(
    channel, captured, ada
):
    first = take(channel, captured, form())
    conversation_id = first.json()["conversationId"]
    ai_mail = mails_to("kim@example.com")[-1]

    # the customer answers the AI's mail (and asks for a person)
    second = take(
        channel,
        captured,
        form(
            "I want to talk to a person please\n\nOn Tue, Acme wrote:\n> earlier",
            subject="Re: Invoice question",
            mail_id="<c2@mail.example.com>",
            in_reply_to=ai_mail.extra_headers["Message-ID"],
            references=f"<c1@mail.example.com> {ai_mail.extra_headers['Message-ID']}",
        ),
    )
    assert second.status_code == 201
    assert second.json()["conversationId"] == conversation_id
    assert second.json()["matchedBy"] == "thread"
    assert Message.objects.get(pk=second.json()["messageId"]).text == (
        "I want to talk to a person please"
    )
    # one consistent thing told, once, by e-mail
    notice = mails_to("kim@example.com")[-1]
    assert "follow up by e-mail" in notice.body
    assert "shortly" not in notice.body
    assert not any("shortly" in m.body for m in mail.outbox)
    assert sum("follow up" in m.body for m in mail.outbox) == 1
    assert notice.extra_headers["In-Reply-To"] == "<c2@mail.example.com>"

    # a person claims it and answers: e-mailed, threaded on the customer's last mail
    handoff = Handoff.objects.get(conversation_id=conversation_id)
    handoff_claim(handoff=handoff, user=ada)
    with captured(execute=True):
        human = human_send_message(
            conversation=Conversation.objects.get(pk=conversation_id),
            user=ada,
            text="Hi Kim, I have corrected the invoice.",
        )
    human_mail = mails_to("kim@example.com")[-1]
    assert human_mail.body == "Hi Kim, I have corrected the invoice."
    assert human_mail.subject == "Re: Invoice question"
    assert human_mail.extra_headers["Message-ID"] == human.email_message_id
    assert human_mail.extra_headers["In-Reply-To"] == "<c2@mail.example.com>"
    references = human_mail.extra_headers["References"].split()
    assert references[0] == "<c1@mail.example.com>"
    assert "<c2@mail.example.com>" in references

    # the customer's answer to the person lands in the same conversation, with the person
    third = take(
        channel,
        captured,
        form(
            "Thank you!",
            subject="Re: Invoice question",
            mail_id="<c3@mail.example.com>",
            in_reply_to=human.email_message_id,
        ),
    )
    assert third.json()["conversationId"] == conversation_id
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.state == "with_human"
    assert list(
        Message.objects.filter(conversation_id=conversation_id, role="customer").values_list(
            "text", flat=True
        )
    ) == [
        "Hello, my invoice for order A-12345 is wrong.",
        "I want to talk to a person please",
        "Thank you!",
    ]
    assert Conversation.objects.count() == 1


def test_a_new_mail_from_the_same_customer_joins_their_open_conversation(channel, captured):
    first = take(channel, captured, form())
    later = take(
        channel, captured, form("One more thing.", subject="Another", mail_id="<c5@x.example>")
    )
    assert later.json()["conversationId"] == first.json()["conversationId"]
    assert later.json()["matchedBy"] == "address"


def test_a_private_note_is_never_emailed(channel, captured, ada):
    from handover.services import note_post

    first = take(channel, captured, form())
    before = len(mail.outbox)
    with captured(execute=True):
        note_post(
            conversation=Conversation.objects.get(pk=first.json()["conversationId"]),
            user=ada,
            text="Kim is a VIP",
        )
    assert len(mail.outbox) == before


# --- failures: retried with bounds, then visible ------------------------------------------------


def test_a_reply_that_cannot_be_sent_is_retried_then_shown_failed_in_the_timeline(
    channel, captured
):
    calls = []

    def refuse(self, messages):
        calls.append(messages)
        raise OSError("connection refused by smtp.example")

    with mock.patch("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse):
        response = take(channel, captured, form())
        # the retries: each failed attempt writes the next to the outbox with a countdown (run
        # at once here, where tasks run eagerly), until the message's attempts are over
        for hours in range(1, 10):
            with captured(execute=True):
                outbox_sweep(now=timezone.now() + dt.timedelta(hours=hours))

    conversation_id = response.json()["conversationId"]
    replies = Message.objects.filter(conversation_id=conversation_id).exclude(role="customer")
    assert len(calls) == EMAIL_MAX_ATTEMPTS * replies.count()
    assert set(replies.values_list("email_status", flat=True)) == {EmailStatus.FAILED}
    failed = DecisionEvent.objects.filter(conversation_id=conversation_id, type="email.failed")
    assert failed.count() == replies.count()
    assert failed[0].detail["attempts"] == EMAIL_MAX_ATTEMPTS
    assert "connection refused" in failed[0].detail["error"]
    steps = list(activity_of(Conversation.objects.get(pk=conversation_id)))
    assert any(s["kind"] == "email" and s["step"] == "failed" for s in steps)
    assert any("could not be e-mailed to kim@example.com" in s["text"] for s in steps)
    # each retry went through the outbox with its backoff; nothing is left to repeat forever
    retries = OutboxEvent.objects.filter(payload__task="conversations.send_email").exclude(
        payload__countdown=None
    )
    countdowns = {row.payload["countdown"] for row in retries}
    assert {30, 60, 120, 240} <= countdowns
    # the others: a later reply waiting for the earlier one to go first (seconds, at most 60)
    assert all(c in (30, 60, 120, 240) or 5 <= c <= 60 for c in countdowns), countdowns
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()


def test_an_html_only_mail_is_taken_as_its_text(channel, captured):
    data = {
        **form(text=""),
        "html": "<p>Hello &amp; thanks,</p><p>where is my <b>refund</b>?</p>"
        "<blockquote>On Monday you wrote: old</blockquote>",
    }
    response = take(channel, captured, data)

    assert response.status_code == 201
    text = Message.objects.get(pk=response.json()["messageId"]).text
    assert text == "Hello & thanks,\nwhere is my refund?"


# --- setting it up --------------------------------------------------------------------------


def test_a_manager_sets_up_the_channel_in_the_admin_and_sees_the_secret_once(
    manager_client, tenant, team
):
    response = manager_client.post(
        "/admin/conversations/emailchannel/add/",
        {"from_address": "help@acme.example", "from_name": "Acme support"},
    )

    assert response.status_code == 200
    page = response.content.decode()
    channel = tenant.email_channel
    assert f"/email/inbound/{channel.inbound_token}" in page
    secret = page.split('id="raw-secret"')[1].split(">")[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert secret not in channel.signing_secret  # stored sealed, never in clear
    assert channel.from_address == "help@acme.example"
    change = manager_client.get(f"/admin/conversations/emailchannel/{channel.pk}/change/")
    assert change.status_code == 200
    assert secret not in change.content.decode()
    # the secret shown works at the address shown
    body = encode_multipart(BOUNDARY, form())
    ok = Client().post(
        f"/email/inbound/{channel.inbound_token}",
        data=body,
        content_type=FORM,
        headers=signed(secret, body),
    )
    assert ok.status_code == 201


def test_the_command_makes_the_channel_and_rotates_its_secret(tenant, team):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("email_channel", tenant.slug, "--from", "help@acme.example", stdout=out)
    first = out.getvalue()
    assert "/email/inbound/" in first
    assert "whsec_" in first
    again = StringIO()
    call_command("email_channel", tenant.slug, stdout=again)
    assert "whsec_" not in again.getvalue()
    rotated = StringIO()
    call_command("email_channel", tenant.slug, "--rotate", stdout=rotated)
    assert "whsec_" in rotated.getvalue()
    old = first.split("signing secret:")[1].split()[0]
    assert old not in rotated.getvalue()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_same_mail_posted_twice_at_once_is_taken_once(tenant, team, eager_tasks):
    """The provider retries while the first post is still being taken: the Message-ID's
    unique row decides, on PostgreSQL with two connections."""
    from django.db import connection

    from tests.concurrency import race

    if connection.vendor != "postgresql":
        pytest.skip("two connections racing: PostgreSQL")
    channel = email_channel_setup(tenant=tenant, from_address="help@acme.example")

    results = race(2, lambda i: post(channel, form()))

    codes = sorted(r.status_code for r in results)
    assert codes == [200, 201], [getattr(r, "content", r) for r in results]
    assert Message.objects.filter(role="customer").count() == 1
    assert Conversation.objects.count() == 1


def test_sending_costs_the_same_queries_whatever_the_threads_length(channel, captured):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.email import email_send
    from conversations.models import EmailStatus as Status

    def queries_to_resend(conversation_id) -> int:
        last = (
            Message.objects.filter(conversation_id=conversation_id).exclude(role="customer").last()
        )
        Message.objects.filter(pk=last.pk).update(email_status=Status.QUEUED, email_attempts=0)
        with CaptureQueriesContext(connection) as counted:
            assert email_send(last.pk) is True
        return len(counted)

    short = take(channel, captured, form(mail_id="<s1@x.example>", sender="a@example.com"))
    short_count = queries_to_resend(short.json()["conversationId"])
    long_id = take(channel, captured, form(mail_id="<l0@x.example>", sender="b@example.com"))
    for n in range(1, 6):
        take(
            channel,
            captured,
            form(f"More {n}", mail_id=f"<l{n}@x.example>", sender="b@example.com"),
        )
    long_count = queries_to_resend(long_id.json()["conversationId"])

    assert long_count == short_count, (short_count, long_count)
    assert short_count <= 8


# --- a turn that never came back, the hand-back, a follow-up told once ---------------------------


def test_a_lost_turn_mails_write_again_then_the_follow_up_in_that_order_whoever_sends_first(
    channel, captured, settings
):
    """The AI's turn never comes back: the sweep tells the customer to write again, then hands
    over. Two workers may take the two mails in any order; the customer reads them in order."""
    from conversations.email import email_send
    from orchestration.turns import AGENT_FAILED_TEXT, turn_sweep

    settings.TURN_DISPATCH = "outbox"
    with captured(execute=False):  # the turn's run is lost: nothing relayed
        response = post(channel, form())
    conversation_id = response.json()["conversationId"]
    stale = dt.timedelta(seconds=settings.TURN_STALE_SECONDS + 1)
    with captured(execute=False):
        turn_sweep(now=timezone.now() + stale)  # sent to the workers again (lost again)
    with captured(execute=False):
        turn_sweep(now=timezone.now() + 2 * stale)  # given up: the customer is told
    queued = list(
        Message.objects.filter(conversation_id=conversation_id, email_status=EmailStatus.QUEUED)
    )
    texts = [m.text for m in queued]
    assert AGENT_FAILED_TEXT in texts
    assert any("follow up by e-mail" in t for t in texts)

    # the worst worker: the newest mail first
    with captured(execute=True):
        for message in reversed(queued):
            email_send(message.pk)
    for hours in (1, 2):  # what waited goes when its turn comes (the outbox's countdowns)
        with captured(execute=True):
            outbox_sweep(now=timezone.now() + dt.timedelta(hours=hours))

    bodies = [m.body for m in mails_to("kim@example.com")]
    assert bodies == [m.text for m in queued]  # in the order written
    sorry, follow_up = bodies.index(AGENT_FAILED_TEXT), bodies.index(queued[-1].text)
    assert sorry < follow_up and "follow up by e-mail" in bodies[follow_up]
    assert sum("follow up" in b for b in bodies) == 1
    assert all(m.extra_headers["In-Reply-To"] == "<c1@mail.example.com>" for m in mail.outbox)
    handoff = Handoff.objects.get(conversation_id=conversation_id)
    notice = Message.objects.get(conversation_id=conversation_id, text=queued[-1].text)
    assert handoff.customer_emailed_at == notice.created_at
    assert set(
        Message.objects.filter(conversation_id=conversation_id)
        .exclude(role="customer")
        .values_list("email_status", flat=True)
    ) == {EmailStatus.SENT}


def test_the_hand_back_is_emailed_in_the_thread_and_the_customers_answer_goes_to_the_ai(
    channel, captured, ada
):
    from handover.services import EMAIL_HAND_BACK_TEXT, HAND_BACK_TEXT, conversation_hand_back

    first = take(channel, captured, form("I want to talk to a person please"))
    conversation_id = first.json()["conversationId"]
    handoff_claim(handoff=Handoff.objects.get(conversation_id=conversation_id), user=ada)
    before = len(mail.outbox)

    with captured(execute=True):
        conversation_hand_back(conversation=Conversation.objects.get(pk=conversation_id), user=ada)

    assert len(mail.outbox) == before + 1
    back = mail.outbox[-1]
    assert back.to == ["kim@example.com"]
    assert back.body == EMAIL_HAND_BACK_TEXT
    assert "reply to this e-mail" in back.body.lower()
    assert HAND_BACK_TEXT not in back.body  # no chat words ("Ask me anything") in a mail
    assert back.subject == "Re: Invoice question"
    assert back.extra_headers["In-Reply-To"] == "<c1@mail.example.com>"
    assert back.extra_headers["Auto-Submitted"] == "auto-replied"
    # the customer answers the hand-back mail: the AI has it again, and answers by e-mail
    answer = take(
        channel,
        captured,
        form(
            "Where is my invoice?",
            subject="Re: Invoice question",
            mail_id="<c7@mail.example.com>",
            in_reply_to=back.extra_headers["Message-ID"],
        ),
    )
    assert answer.json()["conversationId"] == conversation_id
    assert answer.json()["matchedBy"] == "thread"
    assert Conversation.objects.get(pk=conversation_id).state == "active"
    assert mail.outbox[-1].extra_headers["In-Reply-To"] == "<c7@mail.example.com>"


def test_a_handoff_stamps_when_the_customer_was_emailed_and_a_requeue_does_not_mail_again(
    channel, captured, ada
):
    from handover.services import conversation_requeue

    first = take(channel, captured, form("I want to talk to a person please"))
    conversation_id = first.json()["conversationId"]
    handoff = Handoff.objects.get(conversation_id=conversation_id)
    notice = Message.objects.get(
        conversation_id=conversation_id, role="system", text__contains="follow up by e-mail"
    )
    assert handoff.customer_emailed_at == notice.created_at
    handoff_claim(handoff=handoff, user=ada)
    before = len(mail.outbox)

    with captured(execute=True):
        again = conversation_requeue(
            conversation=Conversation.objects.get(pk=conversation_id), user=ada
        )

    assert again.pk != handoff.pk
    assert again.customer_emailed_at == notice.created_at  # told already, for this wait
    assert len(mail.outbox) == before  # nothing new for the customer


def test_a_handoff_that_never_told_the_customer_mails_the_follow_up_once(channel, captured, ada):
    """A handoff from before the stamp was kept (``customer_emailed_at`` empty) put back in the
    queue: the customer is told now, once, and the new handoff says when."""
    from handover.services import COLD_FOLLOW_UP_TEXT, conversation_requeue

    first = take(channel, captured, form("I want to talk to a person please"))
    conversation_id = first.json()["conversationId"]
    handoff = Handoff.objects.get(conversation_id=conversation_id)
    Handoff.objects.filter(pk=handoff.pk).update(customer_emailed_at=None)
    handoff_claim(handoff=handoff, user=ada)
    before = len(mail.outbox)

    with captured(execute=True):
        again = conversation_requeue(
            conversation=Conversation.objects.get(pk=conversation_id), user=ada
        )

    new = mail.outbox[before:]
    assert [m.body for m in new] == [COLD_FOLLOW_UP_TEXT]
    again.refresh_from_db()
    assert again.customer_emailed_at is not None


# --- subjects of conversations opened through the API ---------------------------------------


def _api_email_conversation(key_client, **extra) -> str:
    response = key_client.post(
        "/api/v1/conversations",
        {
            "agentId": "agent-sup",
            "channel": "email",
            "customer": {"id": "c-77", "name": "Lee", "email": "lee@example.com"},
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_an_api_email_conversation_mails_under_the_subject_it_was_opened_with(
    key_client, channel, captured
):
    conversation_id = _api_email_conversation(key_client, subject="Order A-77\r\nBcc: x@evil")
    with captured(execute=True):
        key_client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            {"text": "Where is my invoice?"},
            format="json",
        )

    assert Conversation.objects.get(pk=conversation_id).email_subject == "Order A-77 Bcc: x@evil"
    shown = key_client.get(f"/api/v1/conversations/{conversation_id}").json()
    assert shown["subject"] == "Order A-77 Bcc: x@evil"  # the API shows the thread's subject
    sent = mails_to("lee@example.com")
    assert sent
    assert {m.subject for m in sent} == {"Re: Order A-77 Bcc: x@evil"}
    assert all(m.bcc == [] for m in sent)


def test_an_api_email_conversation_without_a_subject_takes_its_first_message(
    key_client, channel, captured
):
    conversation_id = _api_email_conversation(key_client)
    assert key_client.get(f"/api/v1/conversations/{conversation_id}").json()["subject"] is None
    long_line = "Where is my invoice for order A-12345? " + "I have been waiting for it " * 5
    for text in (f"\n  {long_line}\nThanks, Lee", "And another question"):
        with captured(execute=True):
            key_client.post(
                f"/api/v1/conversations/{conversation_id}/messages", {"text": text}, format="json"
            )

    subject = Conversation.objects.get(pk=conversation_id).email_subject
    assert subject.startswith("Where is my invoice for order A-12345?")
    assert subject.endswith("…") and len(subject) <= 78 and "Thanks" not in subject
    sent = mails_to("lee@example.com")
    assert len(sent) >= 2
    assert {m.subject for m in sent} == {f"Re: {subject}"}  # one thread, the first message's
    listed = key_client.get("/api/v1/conversations", {"channel": "email"}).json()
    assert [c["subject"] for c in listed if c["id"] == conversation_id] == [subject]


# --- attachments ------------------------------------------------------------------------------


def _files(*specs):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {
        f"attachment{n}": SimpleUploadedFile(name, content, content_type=kind)
        for n, (name, content, kind) in enumerate(specs, start=1)
    }


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def test_a_photo_or_pdf_is_kept_as_a_file_the_others_by_name_with_a_note_for_the_people(
    channel, captured, manager_client, media
):
    big = b"%PDF-1.4 " + b"x" * (3 * 1024 * 1024)  # past Django's in-memory body limit
    data = {
        **form(),
        "attachments": "2",
        **_files(
            ("../../etc/invoice.pdf", big, "application/pdf"), ("scan.png", b"\x89PNG", "image/png")
        ),
    }
    response = take(channel, captured, data)

    assert response.status_code == 201, response.content[:300]
    message = Message.objects.get(pk=response.json()["messageId"])
    assert message.text == "Hello, my invoice for order A-12345 is wrong."
    kept, named = message.attachments
    assert (kept["filename"], kept["contentType"], kept["size"]) == (
        "invoice.pdf",
        "application/pdf",
        len(big),
    )
    assert Attachment.objects.get(pk=kept["id"]).message_id == message.pk
    # four bytes that are no PNG: listed by name, and the people are told
    assert named == {"filename": "scan.png", "contentType": "image/png", "size": 4}
    note = Message.objects.get(conversation_id=message.conversation_id, role="note")
    assert note.text.startswith(
        "This e-mail came with 2 attachments. Not kept as files: scan.png (image/png, 4 B: it "
        "must be an image (PNG, JPEG, GIF or WebP), a PDF or a text file (.txt, .log, .csv))."
    )
    assert "invoice.pdf" not in note.text
    assert not any("attachments" in m.body for m in mail.outbox)  # the note is never mailed
    # the customer's message says what came, wherever it is shown; the kept one opens
    listed = manager_client.get(f"/api/v1/conversations/{message.conversation_id}/messages")
    shown = next(m for m in listed.json() if m["id"] == message.pk)
    assert [a["filename"] for a in shown["attachments"]] == ["invoice.pdf", "scan.png"]
    assert "url" not in shown["attachments"][1]
    opened = manager_client.get(shown["attachments"][0]["url"])
    assert b"".join(opened.streaming_content) == big
    assert all(m["role"] != "note" for m in listed.json())


def test_a_mail_whose_files_are_all_kept_needs_no_note(channel, captured, media):
    data = {**form(), **_files(("photo.jpg", b"\xff\xd8\xff\xe0", "image/jpeg"))}

    response = take(channel, captured, data)

    message = Message.objects.get(pk=response.json()["messageId"])
    assert "id" in message.attachments[0]
    assert not Message.objects.filter(conversation_id=message.conversation_id, role="note")


def test_a_mail_with_only_an_attachment_is_taken_and_says_so(channel, captured, media):
    data = {**form(text=""), **_files(("photo.jpg", b"\xff\xd8\xff", "image/jpeg"))}
    response = take(channel, captured, data)

    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["messageId"])
    assert message.text == "[1 attachment sent without text: photo.jpg]"
    assert message.attachments[0]["contentType"] == "image/jpeg"


def test_a_mail_larger_than_the_limit_is_413_with_the_reason_and_nothing_is_taken(
    channel, captured
):
    from orchestration.email_inbound import MAX_INBOUND_BYTES

    data = {**form(), **_files(("huge.zip", b"z" * MAX_INBOUND_BYTES, "application/zip"))}
    response = take(channel, captured, data)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "larger than 25 MB" in error["message"]
    assert not Conversation.objects.exists()
    assert not InboundEmail.objects.exists()
