"""Merging a conversation into another of the same customer (Zendesk's "merge tickets", Help
Scout's and Front's "merge conversations"): Kim wrote by e-mail and opened the chat about the
same parcel, or started a second chat; a person (or an integration) merges one into the other,
so the team answers once, in one place.

Both conversations are locked (in id order, as every lock of several conversations) and must
be of the same customer (the same customer id, or the same e-mail address in any case), open,
and of the same tenant. Then, in one transaction:

- the conversation merged into gets a private note of what was said in the other (its last
  ``EXCERPT_MESSAGES`` messages the customer saw, with a link to the whole of it) and its tags;
- the conversation merged is told to its customer ("we'll go on in your other conversation",
  e-mailed on e-mail as every notice is), resolved as a person's resolve (its handoff closes,
  the holder's seat frees), noted for the colleagues, and keeps ``merged_into``: its read-only
  page links there, and a mail answering its thread goes there (``orchestration.email_inbound``);
- the inboxes hear ``conversation.merged``, the team's webhooks ``conversation.merged``.

Nothing is moved or copied as the customer's own: the merged conversation keeps its transcript,
files and approvals, as they were (an approval of it still waiting is decided as for any
resolved conversation)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from conversations.messages import message_post
from conversations.models import (
    INTERNAL_ROLES,
    Attachment,
    Conversation,
    ConversationTag,
    Message,
    MessageRole,
    State,
)
from conversations.tags import tags_added
from conversations.webhook_events import conversation_data
from core.errors import Conflict, Invalid
from core.events import notify_on_commit, tenant_inbox_group
from core.json_input import uuid_text
from core.models import WebhookEventType
from core.webhooks import webhook_event
from handover.services import NOTE_MAX, conversation_close

MERGED_TEXT = (
    "We've joined this conversation to your other one with us, so that one person answers you "
    "about all of it: we'll go on there."
)
EXCERPT_MESSAGES = 30
EXCERPT_CHARS = 500  # of each message in the note


class MergeRefused(Conflict):
    code = "merge_refused"


def _into_problem(reason: str) -> Invalid:
    return Invalid(
        f"This conversation cannot be merged there: it {reason}.", fields={"into": reason}
    )


def same_customer(one: Conversation, other: Conversation) -> bool:
    """The same customer id, or the same e-mail address (any case): a web chat's visitor who
    left the address they also wrote from."""
    if one.customer_ref and one.customer_ref == other.customer_ref:
        return True
    mail = one.customer_email.strip().lower()
    return bool(mail) and mail == other.customer_email.strip().lower()


def merge_target(reachable: QuerySet, value: Any) -> Conversation:
    """The conversation a merge names as ``into`` (its id, as a string) among those the caller
    reaches (``reachable``: the tenant's, narrowed by the permission table); Invalid naming
    ``into`` otherwise. Both doors' (the inbox's and the API's)."""
    pk = uuid_text(value)
    found = reachable.filter(pk=pk).first() if pk else None
    if found is None:
        raise _into_problem("must be the id of a conversation of this team")
    return found


@transaction.atomic
def conversation_merge(*, source: Conversation, into: Conversation, by: str) -> Conversation:
    """Merge ``source`` into ``into`` (two conversations the caller found in its reach) as
    ``by`` (a person's name, or "The integration “CRM”"); returns ``into``, locked. Invalid
    naming ``into`` (itself, another customer's, another tenant's); MergeRefused (409) when
    either is resolved (or was erased meanwhile)."""
    if source.tenant_id != into.tenant_id:
        raise _into_problem("must be a conversation of this team")
    if source.pk == into.pk:
        raise _into_problem("must be another conversation than the one merged")
    locked = {
        c.pk: c
        for c in Conversation.objects.select_for_update(of=("self",))
        .select_related("assignee", "current_agent")
        .filter(tenant_id=source.tenant_id, pk__in=[source.pk, into.pk])
        .order_by("pk")
    }
    src, dst = locked.get(source.pk), locked.get(into.pk)
    if src is None or dst is None:
        raise MergeRefused("One of the two conversations is gone (erased meanwhile).")
    if not same_customer(src, dst):
        raise _into_problem(
            "must be a conversation of the same customer (the same customer id or e-mail address)"
        )
    if src.state == State.RESOLVED:
        raise MergeRefused("This conversation is resolved already: there is nothing to merge.")
    if dst.state == State.RESOLVED:
        raise MergeRefused(
            "The conversation to merge into is resolved: merge the other way round, or into "
            "an open one."
        )
    message_post(conversation=dst, role=MessageRole.NOTE, author="system", text=_record(src, by))
    _tags_taken(src, dst)
    # the merged one: its customer told while it is open, then resolved as a person's resolve
    message_post(conversation=src, role=MessageRole.SYSTEM, text=MERGED_TEXT)
    conversation_close(
        src,
        reason=f"merged into {dst.pk} by {by}",
        holder=src.assignee if src.state == State.WITH_HUMAN else None,
    )
    Conversation.objects.filter(pk=src.pk).update(merged_into=dst)
    src.merged_into = dst
    message_post(
        conversation=src,
        role=MessageRole.NOTE,
        author="system",
        text=f"{by} merged this conversation into the one of {_when(dst)} "
        f"({dst.get_channel_display()}), where it goes on: "
        f"{reverse('inbox-conversation-page', args=[dst.pk])}",
    )
    notify_on_commit(
        [tenant_inbox_group(src.tenant_id)],
        {"type": "conversation.merged", "conversationId": str(src.pk), "into": str(dst.pk)},
    )
    webhook_event(
        src.tenant_id,
        WebhookEventType.CONVERSATION_MERGED,
        lambda: {"conversation": conversation_data(src), "into": conversation_data(dst)},
        conversation_id=src.pk,
    )
    return dst


def _record(src: Conversation, by: str) -> str:
    """The note left in the conversation merged into: who merged what, and what was said."""
    said = list(
        Message.objects.filter(conversation=src)
        .exclude(role__in=INTERNAL_ROLES)
        .order_by("-id")[:EXCERPT_MESSAGES]
    )[::-1]
    files = Attachment.objects.filter(tenant_id=src.tenant_id, conversation=src).count()
    head = (
        f"{by} merged the conversation of {_when(src)} ({src.get_channel_display()}) into "
        "this one: "
        f"{reverse('inbox-conversation-page', args=[src.pk])}"
    )
    if files:
        head += f"\nIts {files} file(s) stay there."
    lines = [f"{_speaker(m, src)}: {_short(m.text)}" for m in said]
    body = f"{head}\n\nWhat was said there (the last {len(said)} messages):\n" + "\n".join(lines)
    return body if len(body) <= NOTE_MAX else body[: NOTE_MAX - 1] + "…"


def _when(conversation: Conversation) -> str:
    return f"{timezone.localtime(conversation.created_at):%d %b %Y, %H:%M}"


def _speaker(message: Message, conversation: Conversation) -> str:
    if message.role == MessageRole.CUSTOMER:
        return conversation.customer_display
    if message.role == MessageRole.AGENT:
        return "AI"
    if message.role == MessageRole.SYSTEM:
        return "Notice"
    return message.author or "Person"


def _short(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _tags_taken(src: Conversation, dst: Conversation) -> None:
    """The merged conversation's tags on the one merged into, as far as its room allows."""
    names = list(
        ConversationTag.objects.filter(tenant_id=src.tenant_id, conversation=src)
        .order_by("added_at", "id")
        .values_list("name", flat=True)
    )
    tags_added(dst, names)
