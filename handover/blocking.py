"""A person blocks a conversation's customer (spam, abuse), as Zendesk's "suspend", Intercom's
"block" and Chatwoot's "block contact" do: from the open conversation in the inbox (the
``inbox-block`` row: whoever reads the conversation there or in the history).

The customer is blocked by what the conversation knows of them (``conversations.blocks``), and
the conversation is resolved at once as a person's resolve is (``conversation_close``: its
handoff closes, the inboxes hear it, the holder's seat frees), with a private note saying who
blocked them and why. No new conversation starts for them; a manager unblocks in the admin
(Customer blocks: delete the row).
"""

from __future__ import annotations

from django.db import transaction

from conversations.blocks import block_reason, blocks_add
from conversations.messages import message_post
from conversations.models import Conversation, CustomerBlock, MessageRole, State
from conversations.selectors import conversation_locked
from handover.services import conversation_close


@transaction.atomic
def customer_block(
    *, conversation: Conversation, user, reason: object = ""
) -> tuple[Conversation, list[CustomerBlock]]:
    """Block the customer of ``conversation`` (one the caller found in the person's reach) and
    resolve it; returns it with the blocks that now stand for them (new, or made before from
    elsewhere). ``reason``: ``block_reason``'s (Invalid naming ``reason``)."""
    reason = block_reason(reason)
    locked = conversation_locked(conversation.pk)
    if locked is None:
        raise Conversation.DoesNotExist
    blocks = blocks_add(locked, reason=reason, by=user)
    who = user.get_full_name() or user.get_username()
    if locked.state != State.RESOLVED:
        holder = locked.assignee if locked.state == State.WITH_HUMAN else None
        conversation_close(
            locked, reason=f"customer blocked by {user.get_username()}", holder=holder
        )
    what = ", ".join(str(block) for block in blocks) or "nothing known to block them by"
    message_post(
        conversation=locked,
        role=MessageRole.NOTE,
        author="system",
        text=f"{who} blocked the customer ({what})" + (f": {reason}" if reason else "."),
    )
    return locked, blocks
