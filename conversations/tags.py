"""Tags: words people put on a conversation ("damaged", "vip", "carrier-late") to find it and
count such cases later: the inbox's history and ``GET /api/v1/conversations?tag=`` filter by
them. Free-form, as Zendesk's and Intercom's are: a name is lower case, letters, digits, ``-``
and ``_`` (a space becomes ``-``), at most ``MAX_NAME`` characters; a conversation holds at
most ``MAX_TAGS``. The tenant's names in use are suggested as people type.

Adding a tag it has, or removing one it has not, changes nothing; the inboxes hear
``conversation.tagged`` with the conversation's tags after each change."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count

from conversations.models import Conversation, ConversationTag
from core.errors import Invalid
from core.events import notify_on_commit, tenant_inbox_group

MAX_NAME = 40
MAX_TAGS = 20
SUGGESTED = 200
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _refused(reason: str) -> Invalid:
    return Invalid(f"A tag {reason}.", fields={"tag": reason})


def tag_name(value: Any) -> str:
    """``value`` as a tag's name (``"Carrier late "`` -> ``carrier-late``); raises Invalid
    naming ``tag``."""
    if not isinstance(value, str):
        raise _refused("must be text")
    name = "-".join(unicodedata.normalize("NFKC", value).strip().lower().split())
    if not name:
        raise _refused("must not be empty")
    if len(name) > MAX_NAME:
        raise _refused(f"must be at most {MAX_NAME} characters")
    if not _NAME.fullmatch(name):
        raise _refused(
            "may hold letters a-z, digits, - and _ only, and start with a letter or a digit"
        )
    return name


def tags_of(conversation: Conversation) -> list[str]:
    return list(
        ConversationTag.objects.filter(
            tenant_id=conversation.tenant_id, conversation=conversation
        ).values_list("name", flat=True)
    )


def tenant_tag_names(tenant_id: int) -> list[str]:
    """The names the tenant's conversations carry, the most used first (for suggestions)."""
    return list(
        ConversationTag.objects.filter(tenant_id=tenant_id)
        .values("name")
        .annotate(uses=Count("id"))
        .order_by("-uses", "name")
        .values_list("name", flat=True)[:SUGGESTED]
    )


def tags_told(conversation: Conversation) -> list[str]:
    """The conversation's tags, which the inboxes hear once the transaction commits."""
    tags = tags_of(conversation)
    notify_on_commit(
        [tenant_inbox_group(conversation.tenant_id)],
        {"type": "conversation.tagged", "conversationId": str(conversation.pk), "tags": tags},
    )
    return tags


def conversation_tag(*, conversation: Conversation, name: Any, user=None) -> list[str]:
    """Put the tag ``name`` on the conversation; returns its tags. Raises Invalid (a bad name,
    or ``MAX_TAGS`` held already)."""
    name = tag_name(name)
    with transaction.atomic():
        held = ConversationTag.objects.filter(
            tenant_id=conversation.tenant_id, conversation=conversation
        )
        if held.filter(name=name).exists():
            return tags_of(conversation)
        if held.count() >= MAX_TAGS:
            raise Invalid(
                f"A conversation holds at most {MAX_TAGS} tags.",
                fields={"tag": f"a conversation holds at most {MAX_TAGS} tags"},
            )
        try:
            with transaction.atomic():
                ConversationTag.objects.create(
                    tenant_id=conversation.tenant_id,
                    conversation=conversation,
                    name=name,
                    added_by=user,
                )
        except IntegrityError:  # the same tag put on at once by someone else: it is there
            pass
        return tags_told(conversation)


def tags_added(conversation: Conversation, names: list[str], *, user=None) -> None:
    """Inside the caller's transaction: put the tags ``names`` (checked already) on the
    conversation as far as its room allows (it holds at most ``MAX_TAGS``; the rest are left
    off, in order), and tell the inboxes when any went on. A merge's and a canned reply's."""
    held = set(
        ConversationTag.objects.filter(
            tenant_id=conversation.tenant_id, conversation=conversation
        ).values_list("name", flat=True)
    )
    new = [n for n in dict.fromkeys(names) if n not in held][: max(MAX_TAGS - len(held), 0)]
    if not new:
        return
    ConversationTag.objects.bulk_create(
        [
            ConversationTag(
                tenant_id=conversation.tenant_id, conversation=conversation, name=n, added_by=user
            )
            for n in new
        ],
        ignore_conflicts=True,  # put on at once by someone else: it is there
    )
    tags_told(conversation)


def conversation_untag(*, conversation: Conversation, name: Any) -> list[str]:
    """Take the tag ``name`` off the conversation; returns its tags."""
    name = tag_name(name)
    with transaction.atomic():
        removed, _ = ConversationTag.objects.filter(
            tenant_id=conversation.tenant_id, conversation=conversation, name=name
        ).delete()
        return tags_told(conversation) if removed else tags_of(conversation)
