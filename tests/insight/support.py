"""Crafted rows for the metrics tests: conversations, events, handoffs, executions and
approvals with the times the test chooses (``created_at`` columns that Django stamps on
insert are set afterwards)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from approvals.models import ActionExecution, ApprovalRequest
from conversations.models import (
    Conversation,
    DecisionEvent,
    Message,
)
from handover.models import Handoff
from tests.factories import make_message

UTC = dt.UTC


_numbers = itertools.count(1)


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, second, tzinfo=UTC)


# The window most tests read: March 3 (included) to March 10 (excluded), 2025.
START, END = at(3, 0), at(10, 0)
WINDOW = {"from": "2025-03-03T00:00:00Z", "to": "2025-03-10T00:00:00Z"}


def event(conv: Conversation, type: str, *, when: dt.datetime, agent: str = "", **fields):
    row = DecisionEvent.objects.create(
        tenant_id=conv.tenant_id, conversation=conv, type=type, agent_slug=agent, **fields
    )
    DecisionEvent.objects.filter(pk=row.pk).update(created_at=when)
    return row


def conversation(
    agent,
    *,
    when: dt.datetime,
    current=None,
    resolved: dt.datetime | None = None,
    workflow=None,
    routed: bool = True,
    **fields: Any,
) -> Conversation:
    """A conversation started with ``agent`` at ``when`` (with its ``agent.routed`` start
    event, as ``conversation_start`` writes)."""
    conv = Conversation.objects.create(
        tenant_id=agent.tenant_id,
        channel=fields.pop("channel", "web"),
        customer_ref=f"cust-{next(_numbers)}",
        entry_agent=agent,
        current_agent=current or agent,
        workflow=workflow,
        customer_token_hash="x" * 64,
        **({"state": "resolved"} if resolved is not None else {}),
        **fields,
    )
    changes: dict[str, Any] = {"created_at": when}
    if resolved is not None:
        changes.update(resolved_at=resolved)
    Conversation.objects.filter(pk=conv.pk).update(**changes)
    conv.refresh_from_db()
    if routed:
        event(
            conv,
            "agent.routed",
            when=when,
            agent=agent.slug,
            detail={"to": agent.slug, "reason": "conversation started"},
        )
    return conv


def routed(conv, to, *, when, source=None, rerouted=False):
    return event(
        conv,
        "agent.rerouted" if rerouted else "agent.routed",
        when=when,
        agent=to.slug,
        detail={"from": source.slug if source else None, "to": to.slug, "reason": "test"},
    )


def handoff(conv, *, when, claimed=None, status=None, mode="cold") -> Handoff:
    row = Handoff.objects.create(
        tenant_id=conv.tenant_id,
        conversation=conv,
        mode=mode,
        status=status or ("claimed" if claimed else "queued"),
        claimed_at=claimed,
    )
    Handoff.objects.filter(pk=row.pk).update(created_at=when)
    row.refresh_from_db()
    return row


def execution(conv, *, finished, status="succeeded", attempts=1, by="agent:agent-billing"):
    number = next(_numbers)
    return ActionExecution.objects.create(
        tenant_id=conv.tenant_id,
        conversation=conv,
        action="issue_refund",
        params={"orderId": "A1", "amount": 10},
        execution_key=f"test:{number}",
        idempotency_key=f"k{number}",
        requested_by_label=by,
        status=status,
        attempts=attempts,
        created_at=(finished or at(3)) - dt.timedelta(seconds=5),
        updated_at=finished or at(3),
        finished_at=finished,
    )


def approval(conv, *, when, seconds=None, status="approved", by="agent:agent-billing"):
    number = next(_numbers)
    return ApprovalRequest.objects.create(
        tenant_id=conv.tenant_id,
        conversation=conv,
        action="issue_refund",
        params={"orderId": "A1", "amount": 500},
        idempotency_key=f"a{number}",
        status=status,
        requested_by_label=by,
        created_at=when,
        decided_at=None if seconds is None else when + dt.timedelta(seconds=seconds),
        expires_at=when + dt.timedelta(days=1),
    )


def customer_message(conv, text, **signals) -> Message:
    return make_message(conv, text=text, **signals)


def start(client, agent="agent-sup", **extra) -> dict:
    """Start a conversation through the API."""
    response = client.post(
        "/api/v1/conversations",
        {"agentId": agent, "channel": "web", "customer": {"id": "cust-1", "name": "Kim"}, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def say(client, conversation_id, text, **signals) -> dict:
    """A customer message through the API (and so the whole pipeline)."""
    body: dict[str, Any] = {"text": text}
    if signals:
        body["signals"] = signals
    response = client.post(f"/api/v1/conversations/{conversation_id}/messages", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()
