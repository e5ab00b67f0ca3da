"""Blocked customers (``CustomerBlock``): someone who sends spam or abuse, whom the tenant's
people block from a conversation (``handover.blocking``) or a manager adds in the admin. No new
conversation starts for them:

- by their **customer id** (a channel that knows its customers: a phone number, an account id),
  ``POST /api/v1/conversations`` answers 403 ``blocked``;
- by their **e-mail address** (any case), their mail opens no conversation (it is recorded,
  and dropped);
- as a **web chat visitor**, by their network address: the chat's start answers 403. The
  address is never stored, only a keyed hash of it (``client_hash``, with the server's secret),
  kept on the conversation the chat opened, so that blocking that conversation blocks it. Such
  a block lasts ``CHAT_ADDRESS_BLOCK_DAYS`` (30 by default; 0: for good): an address changes
  hands, and a whole office or mobile network may share one. Blocking them again starts the
  time again. A manager may set any block's end, or none, in the admin.

The check is made where a conversation starts, never on a message: a blocked customer's open
conversation is resolved when they are blocked, and a resolved conversation takes no message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from conversations.models import BlockKind, Conversation, CustomerBlock
from core.dates import DateRefused, parse_moment
from core.errors import Forbidden, Invalid
from core.json_input import text_problem

_SALT = "conversations.blocks.client"


class Blocked(Forbidden):
    """The customer is blocked by the tenant's people (403, code ``blocked``)."""

    code = "blocked"


def client_hash(address: str) -> str:
    """A web chat client's network address as it is kept: a keyed hash, never the address."""
    return salted_hmac(_SALT, address or "", algorithm="sha256").hexdigest()[:64]


def blocked(
    tenant_id: int, *, customer_ref: str = "", email: str = "", address_hash: str = ""
) -> bool:
    """Whether any of these is blocked in the tenant (one query; nothing given: False)."""
    keys = Q()
    if customer_ref:
        keys |= Q(kind=BlockKind.CUSTOMER, value=customer_ref)
    if email:
        keys |= Q(kind=BlockKind.EMAIL, value=email.strip().lower())
    if address_hash:
        keys |= Q(kind=BlockKind.ADDRESS, value=address_hash)
    if not keys:
        return False
    return (
        CustomerBlock.objects.filter(keys, tenant_id=tenant_id)
        .filter(standing(timezone.now()))
        .exists()
    )


def standing(now: dt.datetime) -> Q:
    """The blocks that hold at ``now``: for good, or not yet ended."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def address_block_end(now: dt.datetime) -> dt.datetime | None:
    """When a web chat visitor's address block made now ends (None: for good)."""
    days = settings.CHAT_ADDRESS_BLOCK_DAYS
    return now + dt.timedelta(days=days) if days else None


def blocks_add(conversation: Conversation, *, reason: str = "", by=None) -> list[CustomerBlock]:
    """Block the customer of ``conversation`` by what it knows of them: its customer id (not
    the one the public chat made up for that one chat: its client's hash stands for it; a
    signed-in visitor's is their website's, so it counts), its e-mail address and its web
    client's hash. Blocking again changes nothing. Returns the blocks, new or kept."""
    keys = []
    if not conversation.client_hash or conversation.customer_verified:
        keys.append((BlockKind.CUSTOMER, conversation.customer_ref))
    if conversation.customer_email:
        keys.append((BlockKind.EMAIL, conversation.customer_email.strip().lower()))
    if conversation.client_hash:
        keys.append((BlockKind.ADDRESS, conversation.client_hash))
    made = []
    now = timezone.now()
    for kind, value in keys:
        ends = address_block_end(now) if kind == BlockKind.ADDRESS else None
        block, created = CustomerBlock.objects.get_or_create(
            tenant_id=conversation.tenant_id,
            kind=kind,
            value=value,
            defaults={
                "reason": reason,
                "conversation": conversation,
                "blocked_by": by,
                "expires_at": ends,
            },
        )
        if not created and _renewed(block, ends, now):
            block.save(update_fields=["expires_at"])
        made.append(block)
    return made


def _renewed(block: CustomerBlock, ends: dt.datetime | None, now: dt.datetime) -> bool:
    """Blocked again: an address's time starts again, and an ended block holds again (for good,
    or for the time a new one would have). Whether ``block`` changed."""
    if block.expires_at is None:  # for good already
        return False
    if block.kind != BlockKind.ADDRESS and block.expires_at > now:  # still holding as set
        return False
    later = None if ends is None else max(ends, block.expires_at)
    if later == block.expires_at:
        return False
    block.expires_at = later
    return True


REASON_MAX = 500
BY_HAND = (BlockKind.EMAIL, BlockKind.CUSTOMER)  # a visitor's address only from their chat


def block_value(kind: Any, value: Any) -> str:
    """A block's value as it is kept, for a block made by hand (the admin, the API): an e-mail
    address (lower case) or a customer id (at most 200 characters). Raises Invalid naming
    ``kind`` or ``value``."""
    if kind not in BY_HAND:
        raise Invalid(
            fields={
                "kind": "must be email or customer (a web chat's visitor is "
                "blocked from their conversation)"
            }
        )
    if not isinstance(value, str) or not value.strip():
        raise Invalid(fields={"value": "is required"})
    value = " ".join(value.split())
    if problem := text_problem(value):
        raise Invalid(fields={"value": problem})
    if kind == BlockKind.EMAIL:
        value = value.lower()
        try:
            validate_email(value)
        except ValidationError:
            raise Invalid(
                fields={"value": "must be an e-mail address such as kim@example.com"}
            ) from None
    elif len(value) > 200 or any(ord(c) < 32 for c in value):
        raise Invalid(fields={"value": "must be a customer id of at most 200 characters"})
    return value


KEEP = object()  # block_made's ``until`` when none is given


def block_made(
    tenant_id: int, *, kind: Any, value: Any, reason: Any = "", by=None, until: Any = KEEP
) -> tuple[CustomerBlock, bool]:
    """Block someone by hand: ``(block, created)``; the same again keeps the block there.
    ``until``: when it ends (an ISO 8601 date-time or date, in the future; None: for good);
    given, it is the block's end, new or kept; not given, a new block is for good and a kept
    one that had ended holds again for good. Invalid naming ``expiresAt``."""
    value = block_value(kind, value)
    now = timezone.now()
    ends = block_until(until, now) if until is not KEEP else None
    block, created = CustomerBlock.objects.get_or_create(
        tenant_id=tenant_id,
        kind=kind,
        value=value,
        defaults={"reason": block_reason(reason), "blocked_by": by, "expires_at": ends},
    )
    if not created:
        if until is KEEP:
            changed = _renewed(block, None, now)
        else:
            changed, block.expires_at = block.expires_at != ends, ends
        if changed:
            block.save(update_fields=["expires_at"])
    return block, created


def block_until(value: Any, now: dt.datetime) -> dt.datetime | None:
    """A block's end as a client writes it: None (for good), or an ISO 8601 date-time or date
    in the future (a date alone: its midnight, UTC). Invalid naming ``expiresAt``."""
    if value is None:
        return None
    if not isinstance(value, str) or text_problem(value):
        raise Invalid(fields={"expiresAt": "must be an ISO 8601 date-time, or null for good"})
    try:
        ends = parse_moment(value, dt.UTC)
    except DateRefused as exc:
        raise Invalid(fields={"expiresAt": str(exc)}) from None
    if ends <= now:
        raise Invalid(fields={"expiresAt": "must be in the future (delete the block to unblock)"})
    return ends


def block_reason(reason: Any) -> str:
    """Why, for the colleagues: text of at most ``REASON_MAX`` characters (Invalid naming
    ``reason``), white space folded."""
    if not isinstance(reason, str) or len(reason.strip()) > REASON_MAX or text_problem(reason):
        raise Invalid(fields={"reason": f"must be text of at most {REASON_MAX} characters"})
    return " ".join(reason.split())
