"""The action registry: the sensitive actions an agent may propose, each with a parameter schema.

Parameters are described with a small subset of JSON Schema (``type``, ``properties``,
``required``, ``additionalProperties``, ``exclusiveMinimum``, ``minimum``, ``minLength``,
``maxLength``, ``enum``), which also gives approval thresholds their types
(``params.amount`` is a number).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ParamsError(ValueError):
    """Bad parameters: ``errors`` maps a field path (``amount``) to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class ActionSpec:
    name: str
    description: str
    params_schema: Mapping[str, Any] = field(default_factory=dict)

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
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}


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
                    "amount": {"type": "number", "exclusiveMinimum": 0},
                    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                },
                "required": ["orderId", "amount"],
                "additionalProperties": False,
            },
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
        ),
    ]
}


def get_action(name: str) -> ActionSpec | None:
    return ACTIONS.get(name)


def action_names() -> list[str]:
    return sorted(ACTIONS)
