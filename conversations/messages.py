"""Messages: ``message_post`` is the one way a message is written, and it announces itself.

The announcement (``message.created`` to the conversation's customer socket and the tenant's
inbox) leaves after the transaction commits and carries the message in its one JSON shape
(``message_json``): the whole inbox hears of every message, and one database read per socket
per message would not scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from conversations.attachments import attachment_entry, attachment_link
from conversations.email import email_fields, email_queue, email_subject_take
from conversations.models import INTERNAL_ROLES, Attachment, Conversation, Message, MessageRole
from conversations.selectors import CONVERSATION_ID
from core.compiled import DATETIME_MARK, CompiledInsert, CompiledUpdate, Marker
from core.events import conversation_group, notify_on_commit, tenant_inbox_group
from core.models import WebhookEventType
from core.webhooks import webhook_event


def message_json(message: Message) -> dict[str, Any]:
    """A message as the API, the sockets and the pages show it (SPEC 6, Shapes). A private
    note (only ever shown in the inbox) also says who wrote it and when it was last edited."""
    shown = {
        "id": message.pk,
        "conversationId": str(message.conversation_id),
        "role": message.role,
        "author": message.author,
        "text": message.text,
        "signals": {
            "intent": message.intent or None,
            "sentiment": message.sentiment,
            "risk": list(message.risk or []),
        },
        "createdAt": message.created_at.isoformat(),
    }
    if message.attachments:  # files sent (conversations.attachments), each with its link
        shown["attachments"] = files_shown(message.attachments)
    if message.role == MessageRole.NOTE:
        shown["authorId"] = message.author_user_id
        shown["editedAt"] = message.edited_at.isoformat() if message.edited_at else None
    return shown


def files_shown(entries: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A message's files (``Message.attachments``), each with its signed ``url``; one listed
    only by its name (a mail's file of a kind that is not kept) has none."""
    shown = []
    for entry in entries or ():
        url = attachment_link(entry)
        shown.append({**entry, "url": url} if url else dict(entry))
    return shown


# one INSERT whose SQL is written once (core/compiled.py)
INSERT_MESSAGE = CompiledInsert(Message)
_LAST_ACTIVITY = CompiledUpdate(
    lambda pk, at: (Conversation.objects.filter(pk=pk), {"last_activity_at": at}),
    pk=CONVERSATION_ID,
    at=Marker(DATETIME_MARK, Conversation._meta.get_field("last_activity_at")),
)


def last_activity_moved(conversation_id: Any, at: Any) -> None:
    """The conversation's last activity is now ``at`` (a person's or a system message to the
    customer), in one UPDATE compiled once."""
    _LAST_ACTIVITY.run(pk=conversation_id, at=at)


def message_post(
    *,
    conversation: Conversation,
    role: str,
    text: str,
    author: str = "",
    intent: str = "",
    sentiment: float | None = None,
    risk: Iterable[str] = (),
    author_user=None,
    files: Iterable[Attachment] = (),
) -> Message:
    """Write a message of ``conversation`` and announce it after commit. ``files``
    (``conversations.attachments.attachment_take``) are listed on it and tied to it. The
    conversation's ``last_activity_at`` moves on in memory; the caller saves the conversation
    (or the message's conversation is only referenced by id, and the caller updates it). On the
    e-mail channel a reply for the customer is also e-mailed, through the outbox
    (``conversations.email``)."""
    if role == MessageRole.CUSTOMER:
        email_subject_take(conversation, text)
    emailed = email_fields(conversation, role)
    files = list(files)
    message = INSERT_MESSAGE.create(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.pk,
        role=role,
        author=author or ("system" if role == MessageRole.SYSTEM else ""),
        author_user=author_user,
        text=text,
        intent=intent or "",
        sentiment=sentiment,
        risk=list(risk or []),
        attachments=[attachment_entry(f) for f in files],
        **emailed,
    )
    if files:
        Attachment.objects.filter(
            tenant_id=conversation.tenant_id, pk__in=[f.pk for f in files]
        ).update(message_id=message.pk)
    if emailed:
        email_queue(message)
    conversation.last_activity_at = message.created_at
    message_created_on_commit(message)
    if role not in INTERNAL_ROLES:  # a private note stays inside
        webhook_event(
            message.tenant_id,
            WebhookEventType.MESSAGE_CREATED,
            lambda: {
                "conversationId": str(message.conversation_id),
                "message": message_json(message),
            },
            conversation_id=message.conversation_id,
        )
    return message


def message_created_on_commit(message: Message) -> None:
    """Tell the conversation's customer socket and the tenant's inbox of a new message; a
    private note only the inbox."""
    groups = [tenant_inbox_group(message.tenant_id)]
    if message.role not in INTERNAL_ROLES:
        groups.insert(0, conversation_group(message.conversation_id))
    notify_on_commit(
        groups,
        {
            "type": "message.created",
            "conversationId": str(message.conversation_id),
            "messageId": message.pk,
            "message": message_json(message),
        },
    )
