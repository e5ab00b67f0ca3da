"""@mentions in private notes: a human agent writes "@ada can you check the label?" in a note
and Ada hears of it: her inbox's mentions (live, with a desktop alert when she has them on), and
an e-mail when she has no inbox open a minute later. A mention stays unread until she opens it.

Who may be named: the tenant's active human agents (the people who read notes), by their
username, as the inbox's picker inserts it. Naming oneself, or a name nobody has, is plain text.
Editing the note names the new people (once each) and takes the mention away from a person whose
name was taken out.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from conversations.models import Message
from core.errors import Invalid
from core.events import notify_on_commit, person_group
from core.links import absolute_reverse
from core.models import Membership
from core.outbox import outbox_task
from core.scoping import membership_of
from handover.models import Mention
from handover.presence import online_agents

MENTION_EMAIL_TASK = "handover.email_mention"
# The e-mail waits this long: a person who reads the mention in their inbox meanwhile (or opens
# the inbox) gets none.
MENTION_EMAIL_DELAY_SECONDS = 60
EMAIL_LEASE = dt.timedelta(minutes=5)  # a sending mark older than this: its worker died
EXCERPT_CHARS = 200
MENTIONS_SHOWN = 50  # the inbox's list (and the API's page): the newest


def mentionable(tenant_id: int):
    """The people a note may name: the tenant's active human agents."""
    agents = Membership.objects.filter(tenant_id=tenant_id, is_agent=True).values("user_id")
    return get_user_model().objects.filter(pk__in=agents, is_active=True)


def mentioned_in(text: str, people: Iterable[Any]) -> list[Any]:
    """The people of ``people`` that ``text`` names as ``@username`` (any case): not inside a
    word or an e-mail address, and not the start of a longer name."""
    by_name = {p.get_username().lower(): p for p in people}
    if not by_name:
        return []
    names = "|".join(re.escape(n) for n in sorted(by_name, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w@])@({names})(?![\w@-])", re.IGNORECASE)
    seen: dict[str, Any] = {}
    for found in pattern.finditer(text):
        seen.setdefault(found.group(1).lower(), by_name[found.group(1).lower()])
    return list(seen.values())


def mentions_sync(note: Message, by, *, edited: bool = False) -> list[Mention]:
    """Inside the note's transaction (written, or ``edited``): a mention for each colleague the
    note names now, the ones it no longer names taken away. The new ones are told after commit
    (their inboxes, and an e-mail for later). Returns the new ones. A new note that names nobody
    costs no query."""
    had = dict(Mention.objects.filter(message=note).values_list("user_id", "pk")) if edited else {}
    if "@" not in note.text and not had:
        return []
    named = {p.pk for p in mentioned_in(note.text, mentionable(note.tenant_id).exclude(pk=by.pk))}
    gone = {user_id: pk for user_id, pk in had.items() if user_id not in named}
    for user_id, pk in gone.items():
        notify_on_commit([person_group(user_id)], {"type": "mention.read", "mentionIds": [pk]})
    if gone:
        Mention.objects.filter(pk__in=gone.values()).delete()
    new = Mention.objects.bulk_create(
        [
            Mention(
                tenant_id=note.tenant_id,
                message=note,
                conversation_id=note.conversation_id,
                user_id=user_id,
                by=by,
            )
            for user_id in sorted(named - had.keys())
        ]
    )
    for mention in new:
        notify_on_commit(
            [person_group(mention.user_id)],
            {"type": "mention.created", "mention": mention_json(mention, by_name=_name(by))},
        )
        outbox_task(
            tenant_id=note.tenant_id,
            task=MENTION_EMAIL_TASK,
            args=[mention.pk],
            countdown=MENTION_EMAIL_DELAY_SECONDS,
        )
    return new


def _name(user) -> str:
    if user is None:
        return "A colleague"
    return user.get_full_name() or user.get_username()


def mention_json(mention: Mention, *, by_name: str | None = None) -> dict[str, Any]:
    """A mention as the inbox and the API show it."""
    note = mention.message
    text = note.text if len(note.text) <= EXCERPT_CHARS else note.text[: EXCERPT_CHARS - 1] + "…"
    return {
        "id": mention.pk,
        "conversationId": str(mention.conversation_id),
        "messageId": mention.message_id,
        "customer": note.conversation.customer_display,
        "by": by_name if by_name is not None else _name(mention.by),
        "excerpt": text,
        "createdAt": mention.created_at.isoformat(),
        "readAt": mention.read_at.isoformat() if mention.read_at else None,
    }


def mentions_of(user, *, unread: bool = False):
    """A person's mentions, newest first (their tenant's only: a mention is made only by a
    colleague's note, and the filter on the tenant keeps it so if a person moved)."""
    membership = membership_of(user)
    if membership is None:
        return Mention.objects.none()
    rows = Mention.objects.filter(user=user, tenant_id=membership.tenant_id).select_related(
        "message__conversation", "by"
    )
    return rows.filter(read_at__isnull=True) if unread else rows


def mentions_summary(user) -> dict[str, Any]:
    """What the inbox shows on (re)connect: how many are unread, and the newest."""
    rows = mentions_of(user)
    return {
        "unread": rows.filter(read_at__isnull=True).count(),
        "recent": [mention_json(m) for m in rows[:MENTIONS_SHOWN]],
    }


def mentions_read(user, *, ids: Any = None, conversation_id: Any = None) -> list[int]:
    """The person read these mentions (``ids``, a list of ids), or those of one conversation
    (``conversation_id``, when they opened it); neither: all of them. Only their own unread ones
    change; the ids that did are returned, and their other inboxes hear of them."""
    rows = mentions_of(user, unread=True)
    if ids is not None:
        if (
            not isinstance(ids, list)
            or len(ids) > 500
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)
        ):
            raise Invalid(fields={"ids": "must be a list of at most 500 positive integer ids"})
        rows = rows.filter(pk__in=ids)
    elif conversation_id is not None:
        rows = rows.filter(conversation_id=conversation_id)
    read = list(rows.values_list("pk", flat=True))
    if read:
        Mention.objects.filter(pk__in=read, read_at__isnull=True).update(read_at=timezone.now())
        notify_on_commit([person_group(user.pk)], {"type": "mention.read", "mentionIds": read})
    return read


def _email_claim(mention_id: int, now) -> bool:
    """Take the mark of sending the mention's e-mail (one conditional UPDATE): free, or left by
    a worker that died mid-send (older than ``EMAIL_LEASE``); never once read or mailed."""
    free = Q(email_sending_at__isnull=True) | Q(email_sending_at__lt=now - EMAIL_LEASE)
    return bool(
        Mention.objects.filter(
            free, pk=mention_id, read_at__isnull=True, emailed_at__isnull=True
        ).update(email_sending_at=now)
    )


def _email_recheck_if_held(mention_id: int, now) -> None:
    """Another worker holds the mark (or held it and died mid-send: its task, delivered again,
    lands here): look again once the mark has expired, so a killed worker's e-mail still goes
    and a live one's does not go twice."""
    held = Mention.objects.filter(
        pk=mention_id, read_at__isnull=True, emailed_at__isnull=True, email_sending_at__isnull=False
    ).first()
    if held is not None and held.email_sending_at is not None:
        with transaction.atomic():
            outbox_task(
                tenant_id=held.tenant_id,
                task=MENTION_EMAIL_TASK,
                args=[mention_id],
                countdown=(held.email_sending_at + EMAIL_LEASE - now).total_seconds() + 1,
            )


def mention_email_send(mention_id: int) -> bool:
    """E-mail a person about a mention they have not read, when they have no inbox open and an
    address (the task, a minute after the note). Once: the mark is taken by a conditional UPDATE
    before the mail server is called (no transaction open during the call), given back when the
    send fails (the task's retry sends it), and the mention marked mailed once the server took
    it. A task that finds the mark held (another worker sending, or one killed mid-send whose
    task came back) looks again once the mark has expired (``EMAIL_LEASE``): mailed or read by
    then, nothing; else it sends. So a killed worker's e-mail is not lost; it goes twice only
    if the worker died after the mail server took it and before the mention was marked."""
    now = timezone.now()
    mention = (
        Mention.objects.select_related("user", "by", "message__conversation", "tenant")
        .filter(pk=mention_id, read_at__isnull=True, emailed_at__isnull=True)
        .first()
    )
    if mention is None or not mention.user.email:
        return False
    if online_agents(mention.tenant, now=now).filter(user_id=mention.user_id).exists():
        return False  # their inbox is open: they have heard of it there
    if not _email_claim(mention_id, now):
        _email_recheck_if_held(mention_id, now)
        return False
    context = {
        "mention": mention,
        "by": _name(mention.by),
        "customer": mention.message.conversation.customer_display,
        "tenant": mention.tenant,
        "text": mention.message.text,
        "url": absolute_reverse("inbox"),
        "page_url": absolute_reverse("inbox-conversation-page", mention.conversation_id),
    }
    subject = render_to_string("handover/email/mention_subject.txt", context)
    body = render_to_string("handover/email/mention_body.txt", context)
    mine = Mention.objects.filter(pk=mention_id, email_sending_at=now)
    try:
        send_mail(
            " ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [mention.user.email]
        )
    except Exception:
        mine.update(email_sending_at=None)
        raise
    mine.update(emailed_at=timezone.now(), email_sending_at=None)
    return True
