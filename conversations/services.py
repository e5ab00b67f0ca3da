"""Starting conversations, and human-side writes that are not the AI pipeline."""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils.crypto import salted_hmac

from conversations.attributes import (
    attributes_changed,
    attributes_checked,
    attributes_shown,
    value_text,
)
from conversations.blocks import Blocked, blocked, client_hash
from conversations.decisions import AgentRouted, RouteReason
from conversations.email import one_line_subject, subject_from_text
from conversations.events import record
from conversations.messages import message_post
from conversations.models import INTERNAL_ROLES, Channel, Conversation, Message, MessageRole
from conversations.webhook_events import conversation_told
from core.errors import Invalid
from core.events import conversation_watchers_group, notify_on_commit, tenant_inbox_group
from core.json_input import text_problem
from core.models import Tenant, WebhookEventType
from core.principals import (
    NOBODY,
    Principal,
)
from core.services import hash_secret

CUSTOMER_TOKEN_KIND = "ct"


def customer_token_new() -> tuple[str, str]:
    raw = f"{CUSTOMER_TOKEN_KIND}_{secrets.token_urlsafe(24)}"
    return raw, hash_secret(raw)


def signed_in_customer_token(conversation_id: uuid.UUID | str) -> str:
    """The customer token of a signed-in visitor's conversation (``handover.identity``): made
    from the server's SECRET_KEY and the conversation's id, so the chat can hand it again to the
    same visitor on another device, once their website's signature is checked, with no second
    credential stored. Only its hash is kept, as for any customer token."""
    digest = salted_hmac("signed-in-customer", str(conversation_id), algorithm="sha256")
    return f"{CUSTOMER_TOKEN_KIND}_{digest.hexdigest()[:40]}"


def customer_token_matches(conversation: Conversation, raw: str) -> bool:
    return bool(raw) and secrets.compare_digest(conversation.customer_token_hash, hash_secret(raw))


@transaction.atomic
def conversation_start(
    *,
    tenant: Tenant,
    agent,
    channel: str,
    customer: dict[str, Any],
    workflow=None,
    language: str = "",
    opened_by: Principal = NOBODY,
    subject: str = "",
    client: str = "",
    verified: bool = False,
) -> tuple[Conversation, str]:
    """Open a conversation with ``agent``. Returns ``(conversation, customer_token)``; the
    token (shown once) lets the customer's widget read and write this conversation only.
    ``opened_by`` records who opened it (a person or an integration key; nobody for the
    public chat): they never decide an approval the AI asks for in it. ``subject``: on
    e-mail, the thread's subject (without one, the customer's first message gives it).
    ``client``: a web chat's client address (kept only as its hash). ``verified``: the
    tenant's website signed who the customer is (``handover.identity``); the e-mail address it
    vouched for then takes a person's replies while they are away from the chat. Raises
    ``Blocked`` for a customer the tenant's people blocked (``conversations.blocks``)."""
    # an address the server could not tell ("unknown": no peer address) is nobody's own:
    # blocking it would block every visitor without one
    hashed = client_hash(client) if client and client != "unknown" else ""
    attributes = attributes_checked(customer.get("attributes") or {}, field="customer.attributes")
    email = customer.get("email") or ""
    if blocked(tenant.pk, customer_ref=customer["id"], email=email, address_hash=hashed):
        raise Blocked("This customer is blocked by the team: no conversation starts for them.")
    conversation_id = uuid.uuid4()
    if verified:
        raw = signed_in_customer_token(conversation_id)
        digest = hash_secret(raw)
    else:
        raw, digest = customer_token_new()
    conversation = Conversation.objects.create(
        id=conversation_id,
        tenant=tenant,
        channel=channel,
        customer_ref=customer["id"],
        customer_name=customer.get("name") or "",
        customer_email=customer.get("email") or "",
        customer_attributes=attributes,
        customer_verified=verified,
        email_follow_up=verified and bool(email) and channel == Channel.WEB,
        language=language,
        entry_agent=agent,
        current_agent=agent,
        workflow=workflow,
        customer_token_hash=digest,
        opened_by=opened_by.user,
        opened_by_key=opened_by.key,
        email_subject=one_line_subject(subject),
        client_hash=hashed,
    )
    record(
        conversation=conversation,
        event=AgentRouted(
            to=agent.slug,
            reason="conversation started",
            reason_code=RouteReason.STARTED,
            announced=False,
        ),
        agent_slug=agent.slug,
    )
    conversation_told(conversation, WebhookEventType.CONVERSATION_CREATED)
    return conversation, raw


@transaction.atomic
def conversation_email_follow_up(*, conversation: Conversation, email: str) -> Conversation:
    """A web chat's customer leaves their e-mail address: a person's replies are e-mailed to
    it while they are not in the chat (``conversations.email``), under a subject taken from
    their first message. The people in the inbox are told in a private note. Giving the same
    address again changes nothing; another one replaces it (and is noted)."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.email_follow_up and locked.customer_email == email:
        return locked
    first = (
        Message.objects.filter(conversation=locked, role=MessageRole.CUSTOMER)
        .order_by("id")
        .values_list("text", flat=True)
        .first()
    )
    locked.customer_email = email
    locked.email_follow_up = True
    if not locked.email_subject:
        locked.email_subject = subject_from_text(first or "")
    locked.save(update_fields=["customer_email", "email_follow_up", "email_subject"])
    message_post(
        conversation=locked,
        role=MessageRole.NOTE,
        author="system",
        text=f"The customer asked for replies by e-mail while away from the chat: {email}",
    )
    return locked


CUSTOMER_NAME_MAX = 200
CUSTOMER_EMAIL_MAX = 254
NOT_AN_ADDRESS = "must be an e-mail address such as kim@example.com"
UNCHANGED: Any = object()  # a detail the caller left out


def _customer_name(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(fields={"name": "must be text"})
    name = " ".join(value.split())  # no line breaks or tabs in a name
    if len(name) > CUSTOMER_NAME_MAX:
        raise Invalid(fields={"name": f"must be at most {CUSTOMER_NAME_MAX} characters"})
    if problem := text_problem(name):
        raise Invalid(fields={"name": problem})
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise Invalid(fields={"name": "must not hold control characters"})
    return name


def email_checked(value: Any, *, field: str = "email") -> str:
    """An e-mail address a person or a client wrote, stripped ("" when empty); Invalid naming
    ``field`` when it is no text or no address."""
    if not isinstance(value, str):
        raise Invalid(fields={field: "must be text"})
    email = value.strip()
    if not email:
        return ""
    if len(email) > CUSTOMER_EMAIL_MAX or text_problem(email):
        raise Invalid(fields={field: NOT_AN_ADDRESS})
    try:
        validate_email(email)
    except ValidationError:
        raise Invalid(fields={field: NOT_AN_ADDRESS}) from None
    return email


@transaction.atomic
def customer_details_update(
    *,
    conversation: Conversation,
    by: str,
    name: Any = UNCHANGED,
    email: Any = UNCHANGED,
    attributes: Any = UNCHANGED,
) -> Conversation:
    """A person (or an integration) sets the customer's name or e-mail address, as the customer
    told them, or (an integration) what it knows of them (``attributes``: the names given are
    set, a null takes one off; ``conversations.attributes``): on every conversation of the
    tenant with this customer (the same ``customer_ref``; only this one when it has none). An
    empty value clears it. An e-mail conversation's address is the one its replies go to and
    does not change here (400); clearing the address of a web chat whose customer asked for
    replies by e-mail stops those mails. The colleagues read what changed in a private note,
    and the inboxes hear ``customer.updated``."""
    changes: dict[str, str] = {}
    if name is not UNCHANGED:
        changes["customer_name"] = _customer_name(name)
    if email is not UNCHANGED:
        changes["customer_email"] = email_checked(email)
    if attributes is not UNCHANGED:
        attributes = attributes_checked(attributes, field="customer.attributes", changes=True)
    if not changes and attributes is UNCHANGED:
        raise Invalid(fields={"customer": "give a name, an email or attributes to change"})
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if (
        "customer_email" in changes
        and locked.channel == Channel.EMAIL
        and changes["customer_email"].lower() != locked.customer_email.lower()
    ):
        raise Invalid(
            fields={"email": "is the address this e-mail conversation replies to; it cannot change"}
        )
    said = [
        f"{label} from “{getattr(locked, field) or '-'}” to “{value or '-'}”"
        for field, label, value in (
            ("customer_name", "name", changes.get("customer_name")),
            ("customer_email", "e-mail address", changes.get("customer_email")),
        )
        if field in changes and getattr(locked, field) != value
    ]
    moved = _attributes_moved(locked.customer_attributes, attributes)
    if moved:  # too many names once changed: refused before anything is written
        attributes_changed(locked.customer_attributes, attributes)
    said += moved[:ATTRIBUTES_SAID]
    if len(moved) > ATTRIBUTES_SAID:
        said.append(f"{len(moved) - ATTRIBUTES_SAID} more of its details")
    if not said:
        return locked
    same = Conversation.objects.filter(tenant_id=locked.tenant_id)
    same = (
        same.filter(customer_ref=locked.customer_ref)
        if locked.customer_ref
        else same.filter(pk=locked.pk)
    )
    ids = [str(pk) for pk in same.values_list("pk", flat=True)]
    if "customer_name" in changes:
        same.update(customer_name=changes["customer_name"])
    if "customer_email" in changes:
        email_now = changes["customer_email"]
        # an address cleared: no follow-up mails to nowhere
        stop = {} if email_now else {"email_follow_up": False}
        same.exclude(channel=Channel.EMAIL).update(customer_email=email_now, **stop)
    if moved:  # each conversation keeps its own, with these names changed
        rows = list(same.only("pk", "customer_attributes"))
        for row in rows:
            row.customer_attributes = attributes_changed(row.customer_attributes, attributes)
        Conversation.objects.bulk_update(rows, ["customer_attributes"])
    locked.refresh_from_db()
    message_post(
        conversation=locked,
        role=MessageRole.NOTE,
        author="system",
        text=f"{by} changed the customer's {' and '.join(said)}.",
    )
    notify_on_commit(
        [tenant_inbox_group(locked.tenant_id)],
        {
            "type": "customer.updated",
            "conversationIds": ids,
            "customer": locked.customer_display,
            "customerName": locked.customer_name,
            "customerEmail": locked.customer_email,
            "customerAttributes": attributes_shown(locked.customer_attributes),
        },
    )
    return locked


ATTRIBUTES_SAID = 5  # the attributes a change's note names; the rest are counted


def _attributes_moved(current: dict[str, Any], changes: Any) -> list[str]:
    """What a change of attributes changes, in words ("plan from “free” to “pro”"), or []."""
    if changes is UNCHANGED:
        return []
    current = current or {}
    return [
        f"{key} from “{value_text(current[key]) if key in current else '-'}” to "
        f"“{'-' if value is None else value_text(value)}”"
        for key, value in changes.items()
        if current.get(key) != value and not (value is None and key not in current)
    ]


def customer_saw(*, conversation_id, tenant_id: int, message_id: int) -> bool:
    """The web chat's customer had message ``message_id`` of ours (a person's, the AI's, a
    notice) on their screen: the conversation keeps the latest such message (one conditional
    UPDATE: an older or repeated report changes nothing), and the inboxes that have it open are
    told. A message of another conversation, theirs or a private note is no report. Returns
    whether it moved."""
    ours = Message.objects.filter(
        tenant_id=tenant_id, conversation_id=conversation_id, pk=message_id
    ).exclude(role__in=(MessageRole.CUSTOMER, *INTERNAL_ROLES))
    if not ours.exists():
        return False
    moved = (
        Conversation.objects.filter(tenant_id=tenant_id, pk=conversation_id)
        .filter(
            Q(customer_seen_message_id__isnull=True) | Q(customer_seen_message_id__lt=message_id)
        )
        .update(customer_seen_message_id=message_id)
    )
    if moved:
        notify_on_commit(
            [conversation_watchers_group(conversation_id)],
            {
                "type": "customer.seen",
                "conversationId": str(conversation_id),
                "messageId": message_id,
            },
        )
    return bool(moved)
