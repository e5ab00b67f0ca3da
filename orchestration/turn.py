"""What one customer message's turn knows and produces, shared by its phases (decide in
``pipeline``, run in ``agent_runs``, apply in ``turns``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from agents.models import Agent
from conversations.models import Conversation, Message, MessageRole
from core.errors import Conflict
from core.principals import NOBODY, Principal
from orchestration.tenant_config import TenantConfig

RUN_TURN_TASK = "orchestration.run_turn"
SWEEP_TURNS_TASK = "orchestration.sweep_turns"


class ConversationClosed(Conflict):
    """The conversation is resolved: it takes no more messages."""

    code = "conversation_closed"


class ReplyStatus(StrEnum):
    """What became of the AI's answer to a customer message (the API's ``replyStatus``)."""

    NONE = "none"  # no agent answers this message (people have it, or it was handed over)
    PENDING = "pending"  # an agent is answering; the reply comes over the sockets
    ANSWERED = "answered"  # the agent's reply is stored and sent
    SILENT = "silent"  # the agent ran and said nothing (it failed, was blocked, or handed over)
    DROPPED = "dropped"  # the conversation moved on while it ran: its answer was not sent


@dataclass
class TurnResult:
    conversation: Conversation
    message: Message
    reply: Message | None = None
    notices: list[Message] = field(default_factory=list)
    handoff: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    proposed_actions: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # what the rules saw this turn
    reply_status: ReplyStatus = ReplyStatus.NONE
    ai_turn: int | None = None  # the number of the AI turn this message asked for

    def outcome_json(self) -> dict[str, Any]:
        """What a waiting caller reads back once the turn is applied (ids, not rows; JSON)."""
        outcome = {
            "status": str(self.reply_status),
            "reply": self.reply.pk if self.reply else None,
            "notices": [m.pk for m in self.notices],
            "handoff": self.handoff,
            "approval": self.approval,
            "proposedActions": self.proposed_actions,
        }
        return json.loads(json.dumps(outcome, cls=DjangoJSONEncoder))


@dataclass
class Turn:
    """What one pass through a phase knows and has done."""

    conversation: Conversation
    message: Message
    config: TenantConfig
    settings: dict[str, Any]
    context: dict[str, Any]
    result: TurnResult
    transcript: tuple[Mapping[str, Any], ...] = ()
    transferred: bool = False
    ruled: bool = False  # an escalation or handoff rule moved it (the model is not asked)
    sent_by: Principal = NOBODY  # who posted the message through the API (approvals' causes)

    @property
    def previous_text(self) -> str | None:
        """The customer's message before this one (to spot a repeated question)."""
        return next(
            (m["text"] for m in reversed(self.transcript) if m["role"] == MessageRole.CUSTOMER),
            None,
        )

    @property
    def agent(self) -> Agent:
        return self.conversation.current_agent
