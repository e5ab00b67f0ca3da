"""The e-mail channel, outbound: every reply a customer on e-mail gets (the AI's, a person's, a
customer-facing notice) is e-mailed through the outbox (issue 19, point 8).

``message_post`` calls ``email_queue`` for such a message in the transaction that writes it: the
message gets its own Message-ID (stable: stored on it before anything is sent) and an outbox row
for the ``conversations.send_email`` task, so the mail exists exactly when the reply commits and
is never lost if the mail server or the broker is away then.

The task (``email_send``) holds no transaction across SMTP: it claims the message by a
conditional update (``queued`` -> ``sending``), builds the mail from rows, sends it, and marks it
``sent``. A failure puts it back to ``queued`` and writes its retry to the outbox with a
countdown (30 s, then 60, 120, 240: durable, whether a broker or the embedded runner runs it),
at most ``EMAIL_MAX_ATTEMPTS`` attempts in all, counted on the message (``email_attempts``);
after the last one the message is ``failed`` and an
``email.failed`` decision event says so in the conversation's timeline (and the inbox hears of
it). A claim older than ``SENDING_LEASE`` (the worker died mid-send) may be taken again.

Order: the customer reads the thread's mails in the order the messages were written (the AI
could not answer, "please write again", then "someone will follow up"), although each has its
own task and two workers may take them at once. A message whose earlier sibling in the
conversation is still queued or being sent waits for it: it is put back in the queue (the
attempt not counted) and checked again after a countdown that grows from 5 s to a minute; a
message older than ``ORDER_WAIT`` goes whatever the earlier one's fate, so the wait is bounded.

Threading: the mail answers the customer's last mail (``In-Reply-To``), lists the thread's
Message-IDs (``References``, the last ``MAX_REFERENCES``), and its subject is the
conversation's as a reply ("Re: ..."). The inbound side (``orchestration.email_inbound``) reads
these Message-IDs back to put the customer's answer in the same conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from conversations.customer_presence import customer_here
from conversations.decisions import EmailFailed
from conversations.events import record
from conversations.models import (
    Attachment,
    Channel,
    Conversation,
    EmailChannel,
    EmailStatus,
    InboundEmail,
    Message,
    MessageRole,
)
from core.events import notify_on_commit, tenant_inbox_group
from core.models import Tenant
from core.outbox import outbox_task
from core.secret_store import seal
from core.webhooks import new_signing_secret

log = logging.getLogger(__name__)

EMAIL_SEND_TASK = "conversations.send_email"  # the task lives in conversations/tasks.py
EMAIL_MAX_ATTEMPTS = 5
EMAIL_RETRY_BASE_SECONDS = 30  # then 60, 120, 240 (a mail server's outage of minutes)
SENDING_LEASE = dt.timedelta(minutes=10)
MAX_REFERENCES = 20
ORDER_WAIT = dt.timedelta(minutes=10)  # the longest a mail waits for an earlier one to go
ORDER_RECHECK_SECONDS = (5, 60)  # the first and the longest wait between two checks

# what the customer gets by e-mail: never the customer's own messages, never a private note
EMAILED_ROLES = frozenset({MessageRole.AGENT, MessageRole.HUMAN, MessageRole.SYSTEM})

# --- the tenant's channel --------------------------------------------------------------------


def channel_of(tenant_id: int) -> EmailChannel | None:
    return EmailChannel.objects.filter(tenant_id=tenant_id).first()


def email_channel_setup(
    *, tenant: Tenant, from_address: str = "", from_name: str = ""
) -> tuple[EmailChannel, str | None]:
    """The tenant's e-mail channel, made if missing. Returns ``(channel, secret)``: the
    signing secret in clear when it was just made (shown once), else None."""
    with transaction.atomic():
        channel = EmailChannel.objects.select_for_update().filter(tenant=tenant).first()
        if channel is not None:
            changed: list[str] = []
            if from_address and channel.from_address != from_address:
                channel.from_address, changed = from_address, [*changed, "from_address"]
            if from_name and channel.from_name != from_name:
                channel.from_name, changed = from_name, [*changed, "from_name"]
            if changed:
                channel.save(update_fields=[*changed, "updated_at"])
            return channel, None
        secret = new_signing_secret()
        try:
            with transaction.atomic():
                channel = EmailChannel.objects.create(
                    tenant=tenant,
                    from_address=from_address,
                    from_name=from_name,
                    inbound_token=secrets.token_urlsafe(24),
                    signing_secret=seal(secret),
                )
        except IntegrityError:  # made meanwhile by someone else
            return EmailChannel.objects.get(tenant=tenant), None
        return channel, secret


def email_secret_rotate(*, channel: EmailChannel) -> str:
    """A new signing secret for the inbound endpoint (the old one stops working now). Returns
    it in clear, to be shown once."""
    secret = new_signing_secret()
    EmailChannel.objects.filter(pk=channel.pk).update(
        signing_secret=seal(secret), updated_at=timezone.now()
    )
    channel.refresh_from_db()
    return secret


def sender_of(tenant: Tenant, channel: EmailChannel | None) -> str:
    address = (channel.from_address if channel else "") or settings.DEFAULT_FROM_EMAIL
    name = (channel.from_name if channel else "") or tenant.name
    return formataddr((name, address))


def _domain(address: str) -> str:
    _, _, domain = address.rpartition("@")
    domain = domain.strip().strip(">").strip()
    return domain or "localhost"


def new_message_id(tenant_id: int) -> str:
    """A Message-ID of ours: ``<uuid@domain of the tenant's from-address>``."""
    channel = channel_of(tenant_id)
    address = (channel.from_address if channel else "") or settings.DEFAULT_FROM_EMAIL
    return f"<{uuid.uuid4().hex}@{_domain(address)}>"


SUBJECT_FROM_TEXT_CHARS = 78  # a subject taken from a message: its first line, this long


def one_line_subject(subject: str) -> str:
    """A subject as a header carries it: one line (no header injection), at most 255."""
    return " ".join((subject or "").split())[:255]


def subject_from_text(text: str) -> str:
    """A thread's subject from a customer's message: its first non-empty line, cut at a word
    before ``SUBJECT_FROM_TEXT_CHARS`` (with "...")."""
    line = next((one_line_subject(x) for x in (text or "").splitlines() if x.strip()), "")
    if len(line) <= SUBJECT_FROM_TEXT_CHARS:
        return line
    cut = line[: SUBJECT_FROM_TEXT_CHARS - 1]
    if " " in cut[SUBJECT_FROM_TEXT_CHARS // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:-") + "…"


def email_subject_take(conversation: Conversation, text: str) -> None:
    """An e-mail conversation that has no subject yet (opened through the API without one, or
    a mail without a Subject) takes one from the customer's first message, so every mail of
    the thread has the same proper ``Re: ...`` subject (``message_post`` calls this)."""
    if conversation.channel != Channel.EMAIL or conversation.email_subject:
        return
    subject = subject_from_text(text)
    if subject:
        Conversation.objects.filter(pk=conversation.pk, email_subject="").update(
            email_subject=subject
        )
        conversation.email_subject = subject


def reply_subject(conversation: Conversation) -> str:
    subject = one_line_subject(conversation.email_subject)  # one header line
    if not subject:
        subject = f"Your conversation with {conversation.tenant.name}"
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


# --- queueing (in the transaction that writes the reply) --------------------------------------


def is_emailed(conversation: Conversation, role: str) -> bool:
    """Whether a new message of ``role`` is for the customer's mailbox: every reply on the
    e-mail channel; on a web chat whose customer left their address (``email_follow_up``), a
    person's replies (sent only if the customer is not in the chat then: ``email_send``)."""
    if not conversation.customer_email or role not in EMAILED_ROLES:
        return False
    if conversation.channel == Channel.EMAIL:
        return True
    return (
        conversation.channel == Channel.WEB
        and conversation.email_follow_up
        and role == MessageRole.HUMAN
    )


def email_fields(conversation: Conversation, role: str) -> dict[str, Any]:
    """The e-mail columns of a new message (``message_post``): its Message-ID and ``queued``
    when it is to be e-mailed, else nothing."""
    if not is_emailed(conversation, role):
        return {}
    return {
        "email_message_id": new_message_id(conversation.tenant_id),
        "email_status": EmailStatus.QUEUED,
    }


def email_queue(message: Message) -> None:
    """Send ``message`` by e-mail once the current transaction commits (the outbox)."""
    outbox_task(tenant_id=message.tenant_id, task=EMAIL_SEND_TASK, args=[message.pk])


# --- sending (the task; no transaction open across SMTP) --------------------------------------


def thread_ids(message: Message) -> tuple[str | None, list[str]]:
    """``(In-Reply-To, References)`` of our ``message``: the customer's last mail before it,
    and the thread's Message-IDs (theirs and ours) in time order, the last ``MAX_REFERENCES``."""
    theirs = list(
        InboundEmail.objects.filter(
            conversation_id=message.conversation_id, received_at__lte=message.created_at
        )
        .order_by("received_at", "id")
        .values_list("received_at", "mail_id")
    )
    ours = list(
        Message.objects.filter(conversation_id=message.conversation_id, pk__lt=message.pk)
        .exclude(email_message_id="")
        .exclude(role=MessageRole.CUSTOMER)
        .order_by("id")
        .values_list("created_at", "email_message_id")
    )
    thread = [mail_id for _, mail_id in sorted(theirs + ours, key=lambda pair: pair[0])]
    in_reply_to = theirs[-1][1] if theirs else None
    return in_reply_to, thread[-MAX_REFERENCES:]


def email_build(message: Message) -> EmailMessage:
    conversation = message.conversation
    tenant = conversation.tenant
    in_reply_to, references = thread_ids(message)
    headers = {"Message-ID": message.email_message_id}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
    if references:
        headers["References"] = " ".join(references)
    headers["Auto-Submitted"] = "auto-replied" if message.role != MessageRole.HUMAN else "no"
    body = message.text
    channel = channel_of(tenant.pk)
    if conversation.channel == Channel.WEB:  # the chat's customer asked for replies by e-mail
        chat = f"{settings.SITE_URL}{reverse('chat', args=[tenant.slug])}"
        # an answer by e-mail comes back only through the tenant's inbound e-mail channel
        back = "Reply to this e-mail, or go back to the chat" if channel else "Go back to the chat"
        body = (
            f"{body}\n\n--\nYou asked {tenant.name} to answer by e-mail while you are away "
            f"from the chat. {back} to answer: {chat}"
        )
    mail = EmailMessage(
        subject=reply_subject(conversation),
        body=body,
        from_email=sender_of(tenant, channel),
        to=[conversation.customer_email],
        headers=headers,
    )
    for attachment in Attachment.objects.filter(tenant_id=tenant.pk, message_id=message.pk):
        try:  # the files sent with the reply (conversations.attachments), attached
            with attachment.file.open("rb") as handle:
                mail.attach(attachment.filename, handle.read(), attachment.content_type)
        except OSError as exc:  # no longer stored: the reply goes without it
            log.warning(
                "attachment %s of message %s not attached: %s", attachment.pk, message.pk, exc
            )
    return mail


def _claim(message_id: int) -> bool:
    """Take the message for one attempt (a conditional update, committed on its own)."""
    now = timezone.now()
    taken = {
        "email_status": EmailStatus.SENDING,
        "email_attempted_at": now,
        "email_attempts": F("email_attempts") + 1,
    }
    claimable = Message.objects.filter(pk=message_id, email_status=EmailStatus.QUEUED)
    if claimable.update(**taken):
        return True
    stale = Message.objects.filter(
        pk=message_id, email_status=EmailStatus.SENDING, email_attempted_at__lt=now - SENDING_LEASE
    )
    return bool(stale.update(**taken))


def email_send(message_id: int) -> bool:
    """Send one queued reply (the task). Returns True when it was sent now. A failed attempt
    puts the message back in the queue and writes the retry to the outbox (with a countdown:
    durable, on a broker or on the embedded runner alike); the last one marks the message
    ``failed`` and records ``email.failed``."""
    if not _claim(message_id):
        return False  # sent already, failed for good, or another worker is sending it
    message = Message.objects.select_related("conversation__tenant").filter(pk=message_id).first()
    if message is None:
        return False
    if message.conversation.channel == Channel.WEB and customer_here(message.conversation_id):
        # the customer is in the chat and read it there: no mail (checked here, outside the
        # transaction that wrote it), and no Message-ID for a mail that never went
        Message.objects.filter(pk=message_id).update(
            email_status=EmailStatus.NONE, email_message_id=""
        )
        return False
    attempt = message.email_attempts
    waited = (timezone.now() - message.created_at).total_seconds()
    if waited < ORDER_WAIT.total_seconds() and _earlier_unsent(message):
        # not an attempt: back in the queue, checked again soon
        _requeue(message, countdown=order_recheck(waited), attempt_counted=False)
        return False
    try:
        mail = email_build(message)
        get_connection(fail_silently=False).send_messages([mail])
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if attempt < EMAIL_MAX_ATTEMPTS:
            log.warning("e-mail of message %s failed (attempt %s): %s", message_id, attempt, error)
            _requeue(message, countdown=retry_countdown(attempt))
            return False
        email_failed(message, attempts=attempt, error=error)
        return False
    Message.objects.filter(pk=message_id).update(email_status=EmailStatus.SENT)
    return True


def _requeue(message: Message, *, countdown: int, attempt_counted: bool = True) -> None:
    """Back in the queue, with the next try written to the outbox after ``countdown`` seconds,
    in a short transaction of its own (no SMTP inside). A try that was not an attempt (it
    waited for an earlier mail) gives back the attempt its claim counted."""
    changes: dict[str, Any] = {"email_status": EmailStatus.QUEUED}
    if not attempt_counted:
        changes["email_attempts"] = F("email_attempts") - 1
    with transaction.atomic():
        Message.objects.filter(pk=message.pk, email_status=EmailStatus.SENDING).update(**changes)
        outbox_task(
            tenant_id=message.tenant_id,
            task=EMAIL_SEND_TASK,
            args=[message.pk],
            countdown=countdown,
        )


def _earlier_unsent(message: Message) -> bool:
    """Whether an earlier mail of the same conversation is still to be sent (queued, or taken
    by a worker within its lease): this one goes after it."""
    lease_start = timezone.now() - SENDING_LEASE
    return (
        Message.objects.filter(conversation_id=message.conversation_id, pk__lt=message.pk)
        .filter(
            Q(email_status=EmailStatus.QUEUED)
            | Q(email_status=EmailStatus.SENDING, email_attempted_at__gte=lease_start)
        )
        .exists()
    )


@transaction.atomic
def email_failed(message: Message, *, attempts: int, error: str) -> None:
    """The last attempt failed: the message is ``failed`` and the timeline says so."""
    Message.objects.filter(pk=message.pk).update(email_status=EmailStatus.FAILED)
    conversation = message.conversation
    record(
        conversation=conversation,
        message=message,
        event=EmailFailed(
            message_id=message.pk,
            to=conversation.customer_email,
            attempts=attempts,
            error=error[:500],
        ),
    )
    notify_on_commit(
        [tenant_inbox_group(message.tenant_id)],
        {
            "type": "conversation.updated",
            "conversationId": str(conversation.pk),
            "state": conversation.state,
        },
    )
    log.error("e-mail of message %s failed for good after %s attempts", message.pk, attempts)


def order_recheck(waited: float) -> int:
    """Seconds until a mail waiting for an earlier one checks again: about as long as it has
    waited, from 5 s to a minute."""
    low, high = ORDER_RECHECK_SECONDS
    return int(min(high, max(low, waited)))


def retry_countdown(attempt: int) -> int:
    return EMAIL_RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1)
