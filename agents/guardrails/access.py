"""Tool access control: which registered actions an agent may propose.

``allowed`` is the agent's ``allowed_actions``: ``None`` (unset) allows every registered
action; a list allows only the actions it names (an empty list allows none). The check runs in
the approvals gate (``approvals.services.action_propose``) before any approval rule, for every
path a proposal takes: built-in knowledge entries, openai tool calls, webhook actions and the
actions API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agents.action_registry import action_names


def action_allowed(allowed: Iterable[str] | None, action: str) -> bool:
    return allowed is None or action in allowed


def allowed_actions_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid allow-list, or None."""

    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        return "must be a list of action names, or null for every registered action"
    known = action_names()
    for name in value:
        if name not in known:
            return f"unknown action '{name}' (known: {', '.join(known)})"
    if len(set(value)) != len(value):
        return "lists an action twice"
    return None
