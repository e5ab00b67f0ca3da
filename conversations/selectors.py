"""Reads of conversations that run on the hot paths, compiled once per process
(core/compiled.py): compiling the ORM's query cost more CPU than running it."""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from conversations.models import INTERNAL_ROLES, Conversation, Message, MessageRole
from core.compiled import UUID_MARK, Compiled, Marker

# where a conversation's id goes in a compiled query
CONVERSATION_ID = Marker(UUID_MARK, Conversation._meta.pk)

_BY_ID = Compiled(lambda pk: Conversation.objects.filter(pk=pk).order_by(), pk=CONVERSATION_ID)
_LOCKED = Compiled(
    lambda pk: Conversation.objects.select_for_update().filter(pk=pk).order_by(),
    pk=CONVERSATION_ID,
)


def conversation_by_id(pk: Any) -> Conversation | None:
    """The conversation with this id, whatever its tenant, or None. Only for a caller that
    holds the id from a trusted source and checks access itself: the turns worker (the id its
    own decide step wrote into the task) and the customer socket (which checks the customer
    token right after)."""
    return _BY_ID.first(pk=pk)


def conversation_locked(pk: Any) -> Conversation | None:
    """The conversation with this id read under its row lock (``SELECT ... FOR UPDATE``,
    inside the caller's transaction), or None. Unscoped as ``conversation_by_id``: for a caller
    that holds a conversation it already found in its tenant, or the turns worker's own id."""
    return _LOCKED.first(pk=pk)


def customer_waits(conversation: Conversation) -> bool:
    """Whether the customer spoke last of what they see (notes apart): they wait for us."""
    last = (
        Message.objects.filter(conversation=conversation)
        .exclude(role__in=INTERNAL_ROLES)
        .order_by("-id")
        .values_list("role", flat=True)
        .first()
    )
    return last == MessageRole.CUSTOMER


def shown_to_customer() -> QuerySet[Message]:
    """The messages of the conversation an annotation is made on (``OuterRef("pk")``) that its
    customer was shown (never a private note), the latest first."""
    return (
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(role__in=INTERNAL_ROLES)
        .order_by("-id")
    )


def last_shown(field: str) -> Subquery:
    """``field`` of the last message the conversation's customer was shown, to annotate a
    conversation with (the history's and the customers' "last message")."""
    return Subquery(shown_to_customer().values(field)[:1])
