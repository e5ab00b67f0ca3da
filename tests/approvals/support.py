"""Actions registered only by the tests (through the registry, as a product action is): one
that always fails, one that fails a given number of times first."""

from __future__ import annotations

from agents.action_registry import (
    ActionContext,
    ActionSpec,
)
from approvals.actions import _ledger

SCHEMA = {
    "type": "object",
    "properties": {"note": {"type": "string"}},
    "additionalProperties": False,
}

FLAKY = {"failures_left": 0}


def explode(context: ActionContext):
    raise RuntimeError("the payment provider is down")


def flaky(context: ActionContext):
    if FLAKY["failures_left"] > 0:
        FLAKY["failures_left"] -= 1
        raise ConnectionError("timed out")
    entry, _ = _ledger(context, "flaky_action")
    return {"ledgerEntryId": entry.pk}


EXPLODING = ActionSpec(
    "exploding_action", "Always fails.", SCHEMA, handler="tests.approvals.support.explode"
)
FLAKY_SPEC = ActionSpec(
    "flaky_action", "Fails first.", SCHEMA, handler="tests.approvals.support.flaky"
)

MONEY_SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    },
    "required": ["amount"],
    "additionalProperties": False,
}

FAILING_REFUND = ActionSpec(
    "failing_refund",
    "A refund whose payment provider always fails.",
    MONEY_SCHEMA,
    handler="tests.approvals.support.explode",
    total="refunded",
)
