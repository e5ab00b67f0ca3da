"""Canned replies: what the tenant's human agents insert by typing ``/`` and a shortcut in the
inbox (the admin's **Canned replies**, ``/api/v1/canned-replies``); and, as Zendesk's and
Intercom's macros do, what sending one as a reply also does: tags put on the conversation
(``tags``), then one step (``then``: resolve it, snooze it until the customer writes, or hand
it back to the AI).

``canned_reply_send`` is the reply and its actions in one transaction, under the conversation's
lock its holder's reply takes: either all of it is done, or none (a tag that cannot go on, or a
step refused, leaves no reply sent)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.tags import tag_name, tags_added
from core.errors import Invalid
from handover.models import CannedReply, CannedThen, Handoff, Status
from handover.services import (
    NotTheClaimer,
    conversation_hand_back,
    conversation_resolve,
    human_send_message,
)
from handover.snooze import SNOOZE_MAX, handoff_snooze

SHORTCUT_MAX = 40
CANNED_TEXT_MAX = 5000
CANNED_TAGS_MAX = 5


def _invalid(field: str, reason: str) -> Invalid:
    return Invalid(fields={field: reason})


def canned_tags(value: Any) -> list[str]:
    """A canned reply's tags, checked as tags are (Invalid naming ``tags``)."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > CANNED_TAGS_MAX:
        raise _invalid("tags", f"must be a list of at most {CANNED_TAGS_MAX} tags")
    names = []
    for item in value:
        try:
            name = tag_name(item)
        except Invalid as exc:
            raise _invalid("tags", f"{item!r}: " + " ".join(exc.fields["tag"])) from None
        if name not in names:
            names.append(name)
    return names


def _canned_fields(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "shortcut" in data or not partial:
        shortcut = data.get("shortcut")
        if not isinstance(shortcut, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", shortcut):
            raise _invalid(
                "shortcut", "must be 1 to 40 lowercase letters, digits or dashes (not first)"
            )
        fields["shortcut"] = shortcut
    if "text" in data or not partial:
        text = data.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > CANNED_TEXT_MAX:
            raise _invalid("text", f"must be 1 to {CANNED_TEXT_MAX} characters")
        if "\x00" in text:
            raise _invalid("text", "must not hold NUL")
        fields["text"] = text.strip()
    if "title" in data:
        title = data.get("title")
        if title is None:
            title = ""
        if not isinstance(title, str) or len(title) > 100 or "\x00" in title:
            raise _invalid("title", "must be text of at most 100 characters")
        fields["title"] = title.strip()
    if "tags" in data:
        fields["tags"] = canned_tags(data.get("tags"))
    if "then" in data:
        then = data.get("then")
        if then is None:
            then = ""
        if then not in CannedThen.values:
            choices = ", ".join(repr(v) for v in CannedThen.values)
            raise _invalid("then", f"must be one of {choices}")
        fields["then"] = then
    return fields


@transaction.atomic
def canned_reply_save(
    *, tenant, data: dict[str, Any], reply: CannedReply | None = None
) -> CannedReply:
    """Create (``reply`` None) or change a canned reply of the tenant; a shortcut is unique in
    the tenant (``InvalidInput`` on ``shortcut``)."""
    fields = _canned_fields(data, partial=reply is not None)
    shortcut = fields.get("shortcut")
    if shortcut is not None:
        taken = CannedReply.objects.filter(tenant=tenant, shortcut=shortcut)
        if reply is not None:
            taken = taken.exclude(pk=reply.pk)
        if taken.exists():
            raise _invalid("shortcut", f"/{shortcut} is taken")
    if reply is None:
        return CannedReply.objects.create(tenant=tenant, **fields)
    for name, value in fields.items():
        setattr(reply, name, value)
    reply.save()
    return reply


# --- sending one, with what it does ------------------------------------------------------------


def tenant_canned_reply(tenant_id: int, value: Any) -> CannedReply | None:
    """The tenant's canned reply a reply names (``cannedReplyId``: a JSON integer), or None when
    it names none; Invalid naming ``cannedReplyId`` when it is not one of the tenant's."""
    if value is None:
        return None
    reply = None
    if type(value) is int and 1 <= value <= 2**53:
        reply = CannedReply.objects.filter(tenant_id=tenant_id, pk=value).first()
    if reply is None:
        raise _invalid("cannedReplyId", "must be the id of one of the team's canned replies")
    return reply


@transaction.atomic
def canned_reply_send(
    *, conversation: Conversation, user, text: str, reply: CannedReply
) -> Message:
    """The holder's reply ``text`` (the canned reply as they left it after inserting it), then
    ``reply``'s actions: its tags on the conversation (those it has no room for left off: it
    holds at most 20), then its step. All or nothing."""
    message = human_send_message(conversation=conversation, user=user, text=text)
    if reply.tags:  # checked again: a row written around canned_reply_save
        tags_added(conversation, canned_tags(reply.tags), user=user)
    if reply.then == CannedThen.RESOLVE:
        conversation_resolve(conversation=conversation, user=user)
    elif reply.then == CannedThen.HAND_BACK:
        conversation_hand_back(conversation=conversation, user=user)
    elif reply.then == CannedThen.SNOOZE:
        # theirs (the reply above checked it), so its claimed handoff is there
        handoff = Handoff.objects.filter(conversation=conversation, status=Status.CLAIMED).first()
        if handoff is None:
            raise NotTheClaimer("This conversation is not yours to snooze.")
        until = timezone.now() + SNOOZE_MAX - dt.timedelta(minutes=1)
        handoff_snooze(handoff=handoff, user=user, until=until.isoformat())
    return message
