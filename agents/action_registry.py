"""The action registry: the sensitive actions an agent may propose, each with a parameter schema.

Parameters are described with a small subset of JSON Schema (``type``, ``properties``,
``required``, ``additionalProperties``, ``exclusiveMinimum``, ``minimum``, ``maximum``,
``minLength``, ``maxLength``, ``enum``), which also gives approval thresholds their types
(``params.amount`` is a number). Numbers are finite.

An action that moves money names its running total (``total="refunded"``): it has
``params.amount`` and an optional ``params.currency`` (the tenant's currency when left out), its
amounts are converted to the tenant's currency for the approval rules, and the rules can read
``totals.<total>`` (this conversation) and ``totals.<total>_24h`` (the customer, over 24 hours).
Every action also has its counts (``totals.count.<action>``, ``totals.count_24h.<action>``).

Each action names its callable by dotted path (``handler``, resolved when it first runs, so this
module imports no models). A callable takes an :class:`ActionContext` and returns a JSON-able
result; it must be idempotent by ``context.execution_key`` (the demo actions in
``approvals.actions`` write one ledger row per key), because the executor runs it inside the
transaction that marks the execution done and a redelivered task may call it again after a
crash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.module_loading import import_string

from rules import (
    Schema,
    Type,
    approval_schema,
)
from rules import totals_names as rules_totals_names


class ParamsError(ValueError):
    """Bad parameters: ``errors`` maps a field path (``amount``) to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class ActionContext:
    """What an action's callable is given."""

    tenant_id: int
    conversation_id: Any
    execution_id: int
    execution_key: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    description: str
    params_schema: Mapping[str, Any] = field(default_factory=dict)
    handler: str = ""  # dotted path of the callable
    label: str = ""  # how the customer is told about it: "refund"
    total: str = ""  # an action that moves money: the name of its running totals ("refunded")

    def run(self, context: ActionContext) -> Any:
        if not self.handler:
            raise LookupError(f"the action {self.name} has no callable")
        return import_string(self.handler)(context)

    @property
    def customer_label(self) -> str:
        return self.label or self.name.replace("_", " ")

    def words(self, params: Mapping[str, Any] | None) -> str:
        """The action in words, with its amount and currency when it moves money: "refund of
        49.00 EUR for order A-12345", "account change (email)"."""
        return action_words(self, params)

    def validate_params(self, params: Any) -> dict[str, Any]:
        """The parameters, checked against the schema; raises ParamsError."""
        errors: dict[str, str] = {}
        _check(params, self.params_schema, "", errors)
        if errors:
            raise ParamsError(errors)
        return dict(params)


_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and _finite(v),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}


def _finite(value: int | float) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _check(value: Any, schema: Mapping[str, Any], path: str, errors: dict[str, str]) -> None:
    where = path or "params"
    kind = schema.get("type")
    if kind and not _JSON_TYPES[kind](value):
        errors[where] = f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        return
    if "enum" in schema and value not in schema["enum"]:
        errors[where] = f"must be one of {', '.join(map(str, schema['enum']))}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        errors[where] = f"must be greater than {schema['exclusiveMinimum']}"
    if "minimum" in schema and value < schema["minimum"]:
        errors[where] = f"must be at least {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        errors[where] = f"must be at most {schema['maximum']:,}"
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors[where] = "must not be empty" if schema["minLength"] == 1 else "is too short"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors[where] = f"must be at most {schema['maxLength']} characters"
    if kind == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors[f"{path}.{name}" if path else name] = "is required"
        for name, item in value.items():
            child = f"{path}.{name}" if path else name
            if name in properties:
                _check(item, properties[name], child, errors)
            elif schema.get("additionalProperties") is False:
                errors[child] = "is not a parameter of this action"


def amount_text(amount: Any, currency: Any = "") -> str:
    """An amount as people read it: "49.00 EUR" (two places; more when it has them)."""
    try:
        value = Decimal(str(amount))
    except ArithmeticError:
        return str(amount)
    if not value.is_finite():
        return str(amount)
    places = max(2, -value.normalize().as_tuple().exponent)
    text = f"{value:,.{min(places, 4)}f}"
    return f"{text} {currency}".strip() if isinstance(currency, str) else text


def action_words(spec: ActionSpec, params: Mapping[str, Any] | None) -> str:
    params = params if isinstance(params, Mapping) else {}
    words = spec.customer_label
    if spec.total and "amount" in params:
        words += f" of {amount_text(params['amount'], params.get('currency') or '')}"
    if isinstance(params.get("orderId"), str) and params["orderId"]:
        words += f" for order {params['orderId']}"
    changes = params.get("changes")
    if isinstance(changes, Mapping) and changes:
        words += f" ({', '.join(sorted(map(str, changes))[:5])})"
    return words


MAX_AMOUNT = 1_000_000_000  # of an action that moves money, in its own currency

ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in [
        ActionSpec(
            "issue_refund",
            "Refund (part of) an order to the customer.",
            {
                "type": "object",
                "properties": {
                    "orderId": {"type": "string", "minLength": 1, "maxLength": 100},
                    "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_AMOUNT},
                    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                },
                "required": ["orderId", "amount"],
                "additionalProperties": False,
            },
            handler="approvals.actions.issue_refund",
            label="refund",
            total="refunded",
        ),
        ActionSpec(
            "modify_account",
            "Change fields of the customer's account.",
            {
                "type": "object",
                "properties": {"changes": {"type": "object"}},
                "required": ["changes"],
                "additionalProperties": False,
            },
            handler="approvals.actions.modify_account",
            label="account change",
        ),
        ActionSpec(
            "access_sensitive_data",
            "Read a sensitive field of the customer's record.",
            {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "minLength": 1, "maxLength": 100},
                    "reason": {"type": "string", "maxLength": 500},
                },
                "required": ["field"],
                "additionalProperties": False,
            },
            handler="approvals.actions.access_sensitive_data",
            label="request to access your data",
        ),
    ]
}


def get_action(name: str) -> ActionSpec | None:
    return ACTIONS.get(name)


def action_names() -> list[str]:
    return sorted(ACTIONS)


# --- what approval conditions can read -------------------------------------------------------


def totals_names() -> dict[str, Type]:
    """The running totals an approval condition can read (``rules.schema
    .totals_names`` over this registry)."""
    return rules_totals_names(
        money=[spec.total for spec in ACTIONS.values() if spec.total], actions=sorted(ACTIONS)
    )


def approval_condition_schema(action: str) -> Schema:
    """The names an approval condition of ``action`` may use: its ``params.<name>`` (typed by
    its parameter schema), the conversation's names and the running totals."""
    spec = get_action(action)
    return approval_schema(json_schema=spec.params_schema if spec else None, totals=totals_names())


def totals_from(flat: dict[str, Any]) -> dict[str, Any]:
    """The ``totals`` a condition reads, from names without their ``totals.`` prefix
    (``{"refunded_24h": 90, "count.issue_refund": 2}``); a total not given is 0. The rule
    tester builds what it is given with this, the gate what the database holds."""
    totals: dict[str, Any] = {}
    for name in totals_names():
        path = name.removeprefix("totals.").split(".")
        value = number(flat.get(".".join(path), 0))
        place = totals
        for part in path[:-1]:
            place = place.setdefault(part, {})
        place[path[-1]] = value
    return totals


def number(value: Any) -> int | float:
    """A JSON number for the conditions and the events: whole amounts as integers (so an
    explanation reads "totals.refunded is 90", not 90.0)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
