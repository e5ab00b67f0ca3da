"""Erasing a customer's data at their request (GDPR's right to erasure; Intercom's "delete
user", Chatwoot's "delete contact"): a manager or an integration names the customer, and every
conversation of theirs is deleted with everything in it (messages and their edits, files,
notes, handoffs and their packs, the timeline, tags, the rating, approvals and the actions'
records). What stays is an ``Erasure`` row: who asked, when and how much went, the customer
only as a keyed hash.

Who "the customer" is:
- ``customer``: the conversations with that customer id;
- ``email``: the conversations with that e-mail address (any case), and the mails from it
  that opened none (a blocked sender's);
- ``conversation``: that conversation's customer: its customer id, and its e-mail address if
  it has one (a web chat visitor who left it).

One transaction, under the conversations' row locks (taken in id order, as every other lock
of several conversations): an open one is resolved first as a person's resolve would (its
handoff closes, the inboxes hear it, the holder's seat frees), then all are deleted; the stored
files go once it commits. The inboxes hear ``conversation.erased``, and a customer's open chat
is closed (4404: the chat says the conversation ended).

Refused (409, nothing erased) while an approval of theirs is waiting for a decision or for its
action to run, or an action is running: deleting it then would lose what an approver or the
exactly-once execution is about to do. The audit log keeps its rows: it names conversations by
id only (``approvals.models.AuditLog``).

The deliveries to the team's webhooks that told of those conversations go too (a pending one is
not sent). Kept on purpose: the team's blocks (``CustomerBlock``: a blocked address stays
blocked), and the aggregate figures already computed. An AI turn running for a conversation
erased meanwhile finds nothing to apply and drops its answer."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.crypto import salted_hmac

from approvals.models import ActionExecution, ApprovalRequest, ApprovalStatus, ExecutionStatus
from conversations.blocks import block_value
from conversations.models import (
    Attachment,
    BlockKind,
    Conversation,
    Erasure,
    ErasureKind,
    InboundEmail,
    Message,
    State,
)
from core.errors import Conflict, Invalid
from core.events import (
    conversation_group,
    notifications_buffered,
    notify_on_commit,
    tenant_inbox_group,
)
from core.json_input import uuid_text
from core.models import WebhookDelivery
from core.principals import Principal
from handover.services import conversation_close

_SALT = "orchestration.erasure"


class ErasureRefused(Conflict):
    code = "erasure_refused"


def erasure_hash(kind: str, value: str) -> str:
    """What an ``Erasure`` keeps of the customer: a keyed hash of how they were named."""
    return salted_hmac(_SALT, f"{kind}:{value}", algorithm="sha256").hexdigest()


def customer_named(tenant_id: int, kind: Any, value: Any) -> tuple[str, Q, list[str]]:
    """The customer's name as kept (checked), the conversations that are theirs, and the
    e-mail addresses whose dropped mails go too. Invalid naming ``kind`` or ``value``."""
    if kind == ErasureKind.CONVERSATION:
        pk = uuid_text(value)
        found = (
            Conversation.objects.filter(tenant_id=tenant_id, pk=pk)
            .values_list("customer_ref", "customer_email")
            .first()
            if pk
            else None
        )
        if found is None:
            raise Invalid(fields={"value": "must be the id of a conversation of this team"})
        ref, email = found
        email = email.strip().lower()
        mine = Q(pk=pk)
        if ref:
            mine |= Q(customer_ref=ref)
        if email:
            mine |= Q(customer_email__iexact=email)
        return pk, mine, [email] if email else []
    if kind not in (ErasureKind.CUSTOMER, ErasureKind.EMAIL):
        raise Invalid(fields={"kind": "must be customer, email or conversation"})
    value = block_value(BlockKind(kind), value)
    if kind == ErasureKind.EMAIL:
        return value, Q(customer_email__iexact=value), [value]
    return value, Q(customer_ref=value), []


def erasure_preview(*, tenant_id: int, kind: Any, value: Any) -> dict[str, int]:
    """What erasing would delete now (no lock: the admin's confirmation shows it), checked as
    the erasure checks it (Invalid, ErasureRefused)."""
    _kept, mine, _emails = customer_named(tenant_id, kind, value)
    ids = list(Conversation.objects.filter(mine, tenant_id=tenant_id).values_list("pk", flat=True))
    _nothing_in_flight(tenant_id, ids)
    return _counted(tenant_id, ids)


def _counted(tenant_id: int, ids: list) -> dict[str, int]:
    return {
        "conversations": len(ids),
        "messages": Message.objects.filter(tenant_id=tenant_id, conversation_id__in=ids).count(),
        "files": Attachment.objects.filter(tenant_id=tenant_id, conversation_id__in=ids).count(),
    }


@transaction.atomic
def customer_erase(*, tenant_id: int, kind: Any, value: Any, by: Principal) -> Erasure:
    """Erase the customer named by ``kind`` and ``value`` in the tenant; the ``Erasure``
    recorded. Naming nobody with a conversation erases nothing, and is recorded as such."""
    kept, mine, emails = customer_named(tenant_id, kind, value)
    conversations = list(
        Conversation.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .filter(mine, tenant_id=tenant_id)
        .order_by("pk")
    )
    ids = [c.pk for c in conversations]
    _nothing_in_flight(tenant_id, ids)
    for conversation in conversations:
        if conversation.state != State.RESOLVED:
            conversation_close(
                conversation,
                reason="erased at the customer's request",
                holder=conversation.assignee if conversation.state == State.WITH_HUMAN else None,
            )
    gone = conversations_delete(tenant_id, ids)
    if emails:  # the mails that opened no conversation (a blocked sender's)
        InboundEmail.objects.filter(tenant_id=tenant_id, sender__in=emails).delete()
    return Erasure.objects.create(
        tenant_id=tenant_id,
        kind=kind,
        value_hash=erasure_hash(kind, kept),
        erased_by=by.label or "system",
        **gone,
    )


def conversations_delete(tenant_id: int, ids: list) -> dict[str, int]:
    """Inside the caller's transaction, holding the rows' locks: delete the tenant's
    conversations ``ids`` with everything in them (their stored files go once it commits),
    and tell the inboxes and the customers' open chats once it commits. What went, counted."""
    gone = _counted(tenant_id, ids)
    if not ids:
        return gone
    Conversation.objects.filter(tenant_id=tenant_id, pk__in=ids).delete()
    # what the webhooks were told of them (a pending one is not sent)
    WebhookDelivery.objects.filter(tenant_id=tenant_id, conversation_id__in=ids).delete()
    shown = [str(pk) for pk in ids]
    with notifications_buffered():  # one trip to the channel layer after commit
        notify_on_commit(
            [tenant_inbox_group(tenant_id)],
            {"type": "conversation.erased", "conversationIds": shown},
        )
        for pk in shown:
            notify_on_commit([conversation_group(pk)], {"type": "conversation.erased"})
    return gone


# an approval or an action of the conversation still under way: not deleted under it
IN_FLIGHT_APPROVALS = (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
IN_FLIGHT_EXECUTIONS = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


def _nothing_in_flight(tenant_id: int, ids: list) -> None:
    waiting = (
        ApprovalRequest.objects.filter(
            tenant_id=tenant_id,
            conversation_id__in=ids,
            status__in=IN_FLIGHT_APPROVALS,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        raise ErasureRefused(
            f"Approval request #{waiting} of this customer is still to be decided or carried "
            "out: erase once it is done (deny it, or let its action run)."
        )
    running = ActionExecution.objects.filter(
        tenant_id=tenant_id,
        conversation_id__in=ids,
        status__in=IN_FLIGHT_EXECUTIONS,
    ).exists()
    if running:
        raise ErasureRefused(
            "An action for this customer is running: erase once it is done (in a moment)."
        )
