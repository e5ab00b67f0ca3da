"""Blocked customers (``CustomerBlock``): someone who sends spam or abuse, whom the tenant's
people block from a conversation (``handover.blocking``) or a manager adds in the admin. No new
conversation starts for them:

- by their **customer id** (a channel that knows its customers: a phone number, an account id),
  ``POST /api/v1/conversations`` answers 403 ``blocked``;
- by their **e-mail address** (any case), their mail opens no conversation (it is recorded,
  and dropped);
- as a **web chat visitor**, by their network address: the chat's start answers 403. The
  address is never stored, only a keyed hash of it (``client_hash``, with the server's secret),
  kept on the conversation the chat opened, so that blocking that conversation blocks it.

The check is made where a conversation starts, never on a message: a blocked customer's open
conversation is resolved when they are blocked, and a resolved conversation takes no message.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.utils.crypto import salted_hmac

from conversations.models import BlockKind, Conversation, CustomerBlock
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
    return CustomerBlock.objects.filter(keys, tenant_id=tenant_id).exists()


def blocks_add(conversation: Conversation, *, reason: str = "", by=None) -> list[CustomerBlock]:
    """Block the customer of ``conversation`` by what it knows of them: its customer id (not
    the one the public chat made up for that one chat: its client's hash stands for it), its
    e-mail address and its web client's hash. Blocking again changes nothing. Returns the
    blocks, new or kept."""
    keys = []
    if not conversation.client_hash:
        keys.append((BlockKind.CUSTOMER, conversation.customer_ref))
    if conversation.customer_email:
        keys.append((BlockKind.EMAIL, conversation.customer_email.strip().lower()))
    if conversation.client_hash:
        keys.append((BlockKind.ADDRESS, conversation.client_hash))
    made = []
    for kind, value in keys:
        block, _ = CustomerBlock.objects.get_or_create(
            tenant_id=conversation.tenant_id,
            kind=kind,
            value=value,
            defaults={"reason": reason, "conversation": conversation, "blocked_by": by},
        )
        made.append(block)
    return made


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


def block_made(
    tenant_id: int, *, kind: Any, value: Any, reason: Any = "", by=None
) -> tuple[CustomerBlock, bool]:
    """Block someone by hand: ``(block, created)``; the same again keeps the block there."""
    value = block_value(kind, value)
    return CustomerBlock.objects.get_or_create(
        tenant_id=tenant_id,
        kind=kind,
        value=value,
        defaults={"reason": block_reason(reason), "blocked_by": by},
    )


def block_reason(reason: Any) -> str:
    """Why, for the colleagues: text of at most ``REASON_MAX`` characters (Invalid naming
    ``reason``), white space folded."""
    if not isinstance(reason, str) or len(reason.strip()) > REASON_MAX or text_problem(reason):
        raise Invalid(fields={"reason": f"must be text of at most {REASON_MAX} characters"})
    return " ".join(reason.split())
