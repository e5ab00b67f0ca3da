"""A copy of a conversation by e-mail (Chatwoot's "send transcript", Zendesk's and Intercom's
chat transcripts): a person in the inbox sends the customer (or an address they give), or the
web chat's customer asks for one at their address, what was said, as the customer saw it:
their messages, the AI's, the people's and the notices, with the names of the files; never a
colleague's private note.

``transcript_request`` writes the request (``TranscriptMail``), a private note of who sent it
where, and an outbox row for the task, in the caller's transaction: the mail exists exactly when
the request commits. The task (``transcript_send``) holds no transaction across SMTP: it takes
the mark by a conditional UPDATE (one worker sends it), builds the mail from rows, sends it and
marks it sent. A failure gives the mark back, and the task tries again (``TRANSCRIPT_ATTEMPTS``
in all); after the last, the colleagues read in a note that it could not be sent. A task that
finds the mark held (a worker sending it, or one killed mid-send whose task came back) looks
again once the mark has expired (``SENDING_LEASE``): sent by then, nothing; else it sends. So a
copy goes once, but for one narrow case: a worker killed after the mail server took the mail
and before it marked it sent; that copy goes again after the mark expires (at least once, never
lost).

A conversation takes at most ``TRANSCRIPTS_AN_HOUR`` requests an hour: a person's slip (or a
script) does not flood a mailbox."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from conversations.email import channel_of, sender_of
from conversations.messages import message_post
from conversations.models import INTERNAL_ROLES, Conversation, Message, MessageRole
from conversations.services import NOT_AN_ADDRESS, email_checked
from core.errors import Invalid
from core.outbox import outbox_task
from handover.models import TranscriptMail
from handover.names import assistant_name

TASK_NAME = "handover.email_transcript"
TRANSCRIPTS_AN_HOUR = 5
TRANSCRIPT_ATTEMPTS = 4  # the first send and three retries
SENDING_LEASE = dt.timedelta(minutes=5)  # a mark older than this: its worker died mid-send
TRANSCRIPT_MESSAGES_MAX = 2000  # a longer conversation's mail says how many were left out


def transcript_address(value: Any, conversation: Conversation) -> str:
    """Where the copy goes: ``value`` when given, else the customer's address; Invalid naming
    ``to``."""
    if value is not None and not isinstance(value, str):
        raise Invalid(fields={"to": NOT_AN_ADDRESS})
    to = email_checked(value or "", field="to") or conversation.customer_email
    if not to:
        raise Invalid(fields={"to": "the customer gave no e-mail address: give one"})
    return to


@transaction.atomic
def transcript_request(
    *, conversation: Conversation, to: Any, user=None, by_name: str = ""
) -> TranscriptMail:
    """A person (``user``), an integration (``by_name``, e.g. "The integration “CRM”") or, with
    neither, the web chat's customer asks for the conversation's copy to be e-mailed to ``to``
    (the customer's address when empty). Invalid naming ``to`` for a bad address or past the
    hour's requests."""
    address = transcript_address(to, conversation)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)  # one at a time
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    recent = TranscriptMail.objects.filter(conversation=locked, created_at__gte=hour_ago).count()
    if recent >= TRANSCRIPTS_AN_HOUR:
        raise Invalid(
            fields={
                "to": f"{TRANSCRIPTS_AN_HOUR} copies of this conversation were sent in the last "
                "hour; try again later"
            }
        )
    if user is not None:
        by_name = user.get_full_name() or user.get_username()
    asked_by_team = bool(by_name)
    by_name = by_name or "the customer"
    mail = TranscriptMail.objects.create(
        tenant_id=locked.tenant_id, conversation=locked, to=address, by=user, by_name=by_name
    )
    message_post(
        conversation=locked,
        role=MessageRole.NOTE,
        author="system",
        text=f"{by_name} e-mailed a copy of this conversation to {address}."
        if asked_by_team
        else f"The customer asked for a copy of this conversation at {address}.",
    )
    outbox_task(tenant_id=locked.tenant_id, task=TASK_NAME, args=[mail.pk])
    return mail


COPIES_LISTED = 50  # the API's list of a conversation's copies: the newest


def copy_status(mail: TranscriptMail, now: dt.datetime | None = None) -> str:
    """Where a copy stands: sent, failed (for good), sending (a worker holds its mark), or
    waiting (for its task, or for a retry after the mail server refused)."""
    if mail.sent_at is not None:
        return "sent"
    if mail.failed_at is not None:
        return "failed"
    now = now or timezone.now()
    if mail.sending_at is not None and mail.sending_at >= now - SENDING_LEASE:
        return "sending"
    return "waiting"


def copy_json(mail: TranscriptMail) -> dict[str, Any]:
    """A copy as the API shows it."""
    return {
        "id": mail.pk,
        "to": mail.to,
        "askedBy": mail.by_name,
        "createdAt": mail.created_at,
        "status": copy_status(mail),
        "attempts": mail.attempts,
        "sentAt": mail.sent_at,
        "failedAt": mail.failed_at,
        "error": mail.error,
    }


def _claim(mail_id: int, now: dt.datetime) -> bool:
    free = Q(sending_at__isnull=True) | Q(sending_at__lt=now - SENDING_LEASE)
    return bool(
        TranscriptMail.objects.filter(free, pk=mail_id, sent_at=None, failed_at=None).update(
            sending_at=now, attempts=F("attempts") + 1
        )
    )


def _recheck_if_held(mail_id: int) -> None:
    """Another worker holds the mark (or held it and died mid-send: its task, delivered again,
    lands here): look again once the mark has expired, so a killed worker's copy is still sent
    and a live one's is not sent twice."""
    held = TranscriptMail.objects.filter(
        pk=mail_id, sent_at=None, failed_at=None, sending_at__isnull=False
    ).first()
    if held is not None:
        with transaction.atomic():
            outbox_task(
                tenant_id=held.tenant_id,
                task=TASK_NAME,
                args=[mail_id],
                countdown=(held.sending_at + SENDING_LEASE - timezone.now()).total_seconds() + 1,
            )


def transcript_send(mail_id: int) -> bool:
    """Send the copy ``mail_id`` (the task). True when sent now; False when it is not this
    worker's to send (sent, failed for good, or another worker has it). A failure of the mail
    server is raised for the task's retry, after giving the mark back; the last one is told to
    the colleagues instead."""
    now = timezone.now()
    if not _claim(mail_id, now):
        _recheck_if_held(mail_id)
        return False
    mail = TranscriptMail.objects.select_related("conversation", "tenant").get(pk=mail_id)
    try:
        transcript_mail(mail).send()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        mine = TranscriptMail.objects.filter(pk=mail_id, sending_at=now, sent_at=None)
        if mail.attempts < TRANSCRIPT_ATTEMPTS:
            mine.update(sending_at=None, error=error)
            raise
        if mine.update(failed_at=timezone.now(), error=error):
            message_post(
                conversation=mail.conversation,
                role=MessageRole.NOTE,
                author="system",
                text=f"The copy of this conversation for {mail.to} could not be sent "
                f"({TRANSCRIPT_ATTEMPTS} attempts; the mail server said: {error}).",
            )
        return False
    TranscriptMail.objects.filter(pk=mail_id, sending_at=now).update(sent_at=timezone.now())
    return True


def _speaker(message: Message, conversation: Conversation) -> str:
    if message.role == MessageRole.CUSTOMER:
        return conversation.customer_display or "You"
    if message.role == MessageRole.AGENT:
        return assistant_name(conversation.tenant)
    if message.role == MessageRole.SYSTEM or not message.author:
        return conversation.tenant.name
    return f"{message.author} \u00b7 {conversation.tenant.name} team"  # as the chat says


def _zone(conversation: Conversation) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(conversation.tenant.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def transcript_text(conversation: Conversation) -> str:
    """What was said, as the customer saw it, one block a message, in the tenant's time zone."""
    zone = _zone(conversation)
    said = Message.objects.filter(conversation=conversation).exclude(role__in=INTERNAL_ROLES)
    total = said.count()
    blocks = []
    for message in said.order_by("created_at", "id")[:TRANSCRIPT_MESSAGES_MAX]:
        when = message.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines = [f"{_speaker(message, conversation)}, {when}:"]
        if message.text:
            lines.append(message.text)
        for entry in message.attachments or []:
            lines.append(f"[file: {entry.get('filename') or 'file'}]")
        blocks.append("\n".join(lines))
    if total > TRANSCRIPT_MESSAGES_MAX:
        blocks.append(f"({total - TRANSCRIPT_MESSAGES_MAX} later messages are not in this copy.)")
    return "\n\n".join(blocks)


def transcript_mail(mail: TranscriptMail) -> EmailMessage:
    """The mail of a copy: from the tenant (its e-mail channel's sender, when it has one)."""
    conversation = mail.conversation
    tenant = mail.tenant
    started = conversation.created_at.astimezone(_zone(conversation)).strftime("%Y-%m-%d")
    hello = conversation.customer_name or "there"
    body = (
        f"Hello {hello},\n\n"
        f"Here is a copy of your conversation with {tenant.name}, started on {started}.\n\n"
        f"{transcript_text(conversation)}\n\n"
        f"-- \n{tenant.name}\n"
    )
    return EmailMessage(
        subject=f"Your conversation with {tenant.name} ({started})",
        body=body,
        from_email=sender_of(tenant, channel_of(tenant.pk)),
        to=[mail.to],
    )
