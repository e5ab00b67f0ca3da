"""The model-driven orchestrator (SPEC 4.1): what the rules leave open, a model decides.

When a stack's orchestrator settings name an endpoint (``orchestratorEndpoint``, an
OpenAI-compatible base URL, with its key in the tenant's secret store and the ``model``
setting), each turn the decide phase leaves open (no risk auto-escalation, no escalation or
handoff rule fired) asks it, in the run phase, before the agent's reply: it is given
:data:`ORCHESTRATOR_PROMPT` (the built-in default), the routing instructions with
``{{TENANT_NAME}}`` replaced, the specialists with their domains, and the transcript, and picks
one of the built-in actions as a tool call: ``continue``, ``reroute`` (to a named specialist),
``hand_over`` (``hot`` or ``cold``), ``mark_stalled``, ``consult`` (named specialists).

This module makes the call and reads the answer into a :class:`Choice` (no database, no ORM:
plain data in, plain data out). The apply phase validates and applies it (``turns.apply``).
A failed call, or an answer that names no tool, is a ``continue`` with the error kept.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.runtimes import TurnContext
from agents.runtimes.base import recent_transcript, with_tenant_name
from agents.runtimes.http import HttpPolicy, endpoint, post_json
from agents.runtimes.openai import ROLES, completions_url, usage_cost
from core.json_input import loads
from core.secret_store import SecretUnreadable, unseal

CONTINUE = "continue"
REROUTE = "reroute"
HAND_OVER = "hand_over"
MARK_STALLED = "mark_stalled"
CONSULT = "consult"
ACTIONS = (CONTINUE, REROUTE, HAND_OVER, MARK_STALLED, CONSULT)

ORCHESTRATOR_PROMPT = """\
You are the orchestrator of {{TENANT_NAME}}'s customer-service agents. You never write to the \
customer. For the customer's latest message, choose exactly one action by calling one tool:
- continue: the current agent answers, as planned.
- reroute: a named specialist takes the conversation over and answers from now on.
- hand_over: people take over (mode "hot": offered live to online colleagues; "cold": queued \
for follow-up).
- mark_stalled: the conversation is going in circles; the current agent still answers.
- consult: the current agent privately asks the named specialists before it answers.
The core rules (risk auto-escalation, escalation and handoff rules) were applied before you \
and stay in effect. Follow the routing instructions below when they apply; otherwise continue."""


@dataclass(frozen=True)
class Specialist:
    slug: str
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class OrchestratorAsk:
    """What the run needs to ask the model (plain data; the key stays sealed)."""

    base_url: str
    key_token: str
    model: str
    routing_instructions: str  # rendered ({{TENANT_NAME}} replaced)
    current: str  # the current agent's slug
    specialists: tuple[Specialist, ...]


@dataclass(frozen=True)
class Choice:
    action: str
    model: str = ""
    to: str | None = None  # reroute
    agents: tuple[str, ...] = ()  # consult
    mode: str | None = None  # hand_over
    reason: str = ""
    error: str | None = None  # the call failed: continue
    tokens: int = 0
    cost: float = 0.0
    duration_ms: float = 0.0


def system_prompt(ask: OrchestratorAsk, tenant_name: str) -> str:
    parts = [ORCHESTRATOR_PROMPT]
    if ask.routing_instructions.strip():
        parts.append("Routing instructions:\n" + ask.routing_instructions.strip())
    lines = [
        f"- {s.slug} ({s.name}): {', '.join(s.domains) or 'no domains'}" for s in ask.specialists
    ]
    parts.append(
        f"The current agent is {ask.current}. The specialists and their domains:\n"
        + ("\n".join(lines) or "- none")
    )
    return with_tenant_name("\n\n".join(parts), tenant_name)


def tools(ask: OrchestratorAsk) -> list[dict[str, Any]]:
    slugs = [s.slug for s in ask.specialists]
    reason = {"type": "string", "description": "Why, in one sentence."}

    def tool(name: str, description: str, **properties: Any) -> dict[str, Any]:
        required = [k for k in properties if k != "reason"]
        return {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {
                    "type": "object",
                    "properties": {**properties, "reason": reason},
                    "required": required,
                },
            },
        }

    agent = {"type": "string", "enum": slugs} if slugs else {"type": "string"}
    return [
        tool(CONTINUE, "The current agent answers."),
        tool(REROUTE, "A specialist takes the conversation over.", agent=agent),
        tool(HAND_OVER, "People take over.", mode={"type": "string", "enum": ["hot", "cold"]}),
        tool(MARK_STALLED, "The conversation is stalled; the current agent still answers."),
        tool(
            CONSULT,
            "The current agent privately asks these specialists first.",
            agents={"type": "array", "items": agent},
        ),
    ]


def messages(ask: OrchestratorAsk, ctx: TurnContext) -> list[dict[str, str]]:
    result = [{"role": "system", "content": system_prompt(ask, ctx.tenant_name)}]
    for item in recent_transcript(ctx):
        role = ROLES.get(str(item.get("role")))
        text = item.get("text")
        if role and isinstance(text, str) and text.strip():
            result.append({"role": role, "content": text})
    result.append({"role": "user", "content": ctx.message or ""})
    return result


def _failed(ask: OrchestratorAsk, error: str, **extra: Any) -> Choice:
    return Choice(action=CONTINUE, model=ask.model, error=error[:500], **extra)


def _text(value: Any, limit: int = 300) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def decide(ask: OrchestratorAsk, ctx: TurnContext, *, policy: HttpPolicy | None = None) -> Choice:
    """Ask the model; never raises."""
    url = completions_url(ask.base_url)
    try:
        key = unseal(ask.key_token).strip() if ask.key_token else ""
    except SecretUnreadable as exc:
        return _failed(ask, f"the stored orchestrator key is unreadable: {exc}")
    if not key:
        return _failed(ask, "the orchestrator endpoint has no stored key")
    body = {
        "model": ask.model,
        "messages": messages(ask, ctx),
        "tools": tools(ask),
        "tool_choice": "required",
    }
    response = post_json(url, body, headers={"Authorization": f"Bearer {key}"}, policy=policy)
    took = response.duration_ms
    if response.error:
        return _failed(ask, f"{endpoint(url)}: {response.error}", duration_ms=took)
    data = response.data
    tokens, cost = 0, 0.0
    if isinstance(data, Mapping) and isinstance(data.get("usage"), Mapping):
        usage = {
            k: v for k, v in data["usage"].items() if isinstance(v, int) and not isinstance(v, bool)
        }
        tokens, cost = usage_cost(usage, data["usage"].get("cost"), {})
    spent = Choice(action=CONTINUE, model=ask.model, tokens=tokens, cost=cost, duration_ms=took)
    try:
        call = data["choices"][0]["message"]["tool_calls"][0]["function"]
        name = call["name"]
        arguments = call.get("arguments")
        params = loads(arguments) if isinstance(arguments, str) else (arguments or {})
    except (KeyError, IndexError, TypeError, ValueError):
        return dataclasses.replace(spent, error="the model called no tool")
    if name not in ACTIONS or not isinstance(params, Mapping):
        shown = json.dumps(str(name))[:80]
        return dataclasses.replace(spent, error=f"the model called an unknown tool {shown}")
    agents = params.get("agents")
    return dataclasses.replace(
        spent,
        action=name,
        to=_text(params.get("agent"), 63) or None,
        agents=tuple(_text(a, 63) for a in agents if isinstance(a, str))[:8]
        if isinstance(agents, list)
        else (),
        mode=_text(params.get("mode"), 10) or None,
        reason=_text(params.get("reason")),
    )


def ignored(choice: Choice, *, current: str, candidates: set[str], handoff_mode: str) -> str | None:
    """Why ``choice`` is not followed (None: it is): the run and the apply phase both ask,
    the apply phase against the configuration as it is then."""
    if choice.error:
        return "the orchestrator model failed"
    if choice.action == REROUTE:
        if not choice.to or choice.to not in candidates:
            return f"unknown agent {choice.to!r}"
        if choice.to == current:
            return "already the current agent"
    if choice.action == CONSULT:
        unknown = [a for a in choice.agents if a not in candidates]
        if unknown or not choice.agents:
            return f"unknown agent {unknown[0]!r}" if unknown else "no agent named"
    if choice.action == HAND_OVER:
        mode = choice.mode or handoff_mode
        if mode not in ("hot", "cold", "auto"):
            return f"unknown hand-over mode {mode!r}"
        if handoff_mode != "auto" and mode != handoff_mode:
            return f"the stack hands over {handoff_mode} only"
    return None
